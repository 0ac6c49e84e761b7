"""Who is on the other end of a request: its client address and user agent, as the sign-in
throttle, the API-key throttle and the audit trail all see them.

By default the address is the socket's peer (``REMOTE_ADDR``): a header a client can write
(``X-Forwarded-For``) must never choose the address a lockout counts against, or one attacker
becomes a thousand. Behind reverse proxies the operator says how many
(``TESSERA_TRUSTED_PROXY_COUNT``); the client is then the address the outermost of them saw, the
N-th entry from the right of ``X-Forwarded-For`` (entries further left are the client's to write).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX_CHARS = 200
UNKNOWN_ADDRESS = "0.0.0.0"  # noqa: S104 - a label for "no address", never bound to


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The client's address and (truncated) user agent, for an audit row's ``extra``."""

    ip: str
    user_agent: str

    def as_extra(self) -> dict[str, Any]:
        return {"ip": self.ip, "user_agent": self.user_agent}


def _valid(address: str) -> str | None:
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str:
    """The client's IP address (see the module docstring for which one); also axes'
    ``AXES_CLIENT_IP_CALLABLE``."""
    remote = _valid(str(request.META.get("REMOTE_ADDR") or "")) or UNKNOWN_ADDRESS
    proxies = int(settings.TESSERA["TRUSTED_PROXY_COUNT"])
    if proxies <= 0:
        return remote
    forwarded = [entry for entry in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if entry]
    if len(forwarded) < proxies:
        return remote  # did not come through every proxy: the peer is all we know
    return _valid(forwarded[-proxies]) or remote


def client_info(request: HttpRequest) -> ClientInfo:
    """The request's client, as an audit row records it."""
    agent = str(request.META.get("HTTP_USER_AGENT", ""))[:USER_AGENT_MAX_CHARS]
    return ClientInfo(ip=client_ip(request), user_agent=agent)
