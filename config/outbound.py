"""The guard on every outbound HTTP request the server makes (today: to an LLM connection).

A request may only go to ``http(s)`` URLs without credentials in them, to a host whose every address
is public, unless the operator allows that host by name (``TESSERA_OUTBOUND_ALLOWED_HOSTS``, e.g. an
Ollama on ``127.0.0.1``). The check runs when the connection is made, not only when the URL is
saved: the host is resolved, every address checked, and the request sent to the checked address
(TLS still verifies the certificate against the host name), so a name that resolves to a public
address when checked and to a private one a moment later (DNS rebinding) reaches nothing. Redirects
are refused, not followed: a public server cannot bounce a request to an internal one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx2

Resolver = Callable[[str, int], list[str]]


class OutboundRefused(RuntimeError):
    """The destination is not one the server may reach; the message says why, without secrets."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"The host {host!r} does not resolve.") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is loopback
    return ip.is_global and not ip.is_multicast


def _normal_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


class OutboundPolicy:
    """Which destinations are allowed: public ones, plus the operator's named hosts."""

    def __init__(self, *, allowed_hosts: Iterable[str] = (), resolver: Resolver = system_resolver) -> None:
        self.allowed_hosts = frozenset(_normal_host(h) for h in allowed_hosts if h.strip())
        self._resolve = resolver

    def check_url(self, url: str) -> None:
        """Refuse a URL whose shape can never be allowed (scheme, credentials, no host)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise OutboundRefused("Only http and https URLs are allowed.")
        if parts.username is not None or parts.password is not None:
            raise OutboundRefused("A URL may not hold a user name or password.")
        if not parts.hostname:
            raise OutboundRefused("The URL has no host.")

    def addresses_for(self, host: str, port: int) -> list[str]:
        """The addresses a connection to ``host`` may use; :class:`OutboundRefused` if none may."""
        name = _normal_host(host)
        addresses = self._resolve(name, port)
        if not addresses:
            raise OutboundRefused(f"The host {host!r} does not resolve.")
        if name in self.allowed_hosts:
            return addresses
        if not all(_is_public(address) for address in addresses):
            raise OutboundRefused(
                f"The host {host!r} is on a loopback, private or link-local address; the operator must "
                "allow it by name (TESSERA_OUTBOUND_ALLOWED_HOSTS)."
            )
        return addresses


def _pinned(request: httpx2.Request, policy: OutboundPolicy) -> httpx2.Request:
    """The request, checked and bound to a checked address of its host (TLS still checks the name)."""
    url = request.url
    policy.check_url(str(url))
    host = url.host
    address = policy.addresses_for(host, url.port or (443 if url.scheme == "https" else 80))[0]
    if address != _normal_host(host):
        request.url = url.copy_with(host=address)
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
    return request  # the Host header was set from the original URL when the request was built


def _no_redirect(response: httpx2.Response) -> httpx2.Response:
    if 300 <= response.status_code < 400:
        response.close()
        raise OutboundRefused(
            f"The server answered with a redirect ({response.status_code}); none is followed."
        )
    return response


class GuardedTransport(httpx2.BaseTransport):
    """An httpx2 transport (the OpenAI SDK's HTTP client) that sends only what :class:`OutboundPolicy`
    allows."""

    def __init__(self, policy: OutboundPolicy, **transport_options: Any) -> None:
        self.policy = policy
        self._inner = httpx2.HTTPTransport(trust_env=False, **transport_options)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return _no_redirect(self._inner.handle_request(_pinned(request, self.policy)))

    def close(self) -> None:
        self._inner.close()


def guarded_client(policy: OutboundPolicy, *, timeout: float) -> httpx2.Client:
    """An httpx2 client (the OpenAI SDK's) that follows no redirect and reads no proxy variables."""
    return httpx2.Client(
        transport=GuardedTransport(policy), timeout=timeout, follow_redirects=False, trust_env=False
    )
