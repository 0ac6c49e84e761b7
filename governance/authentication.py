"""REST authentication: ``Authorization: Bearer <key>`` resolves to the key's tenant."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from governance.access import principal_for_api_key
from governance.api_key_throttle import api_key_failure_record, api_key_failures_wait
from governance.client_address import client_ip
from governance.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Bearer API keys. A wrong or revoked key is a 401, never a fall-through to anonymous; after too
    many from one address, a 429 that costs no database read (``governance.api_key_throttle``)."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        ip = client_ip(request._request)
        wait = api_key_failures_wait(ip=ip)
        if wait is not None:
            # Too many wrong keys from this address: refused before the key is looked up (and before
            # the API's audit row names the key's tenant: see config.api).
            request._request.api_key_throttled = True  # type: ignore[attr-defined]
            raise exceptions.Throttled(wait=wait, detail="Too many invalid API keys from this address.")
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            api_key_failure_record(ip=ip)
            raise exceptions.AuthenticationFailed("Invalid or revoked API key.")
        principal = principal_for_api_key(api_key)
        # The view reads the principal; tenant and principal are never taken from the payload.
        request._request.principal = principal  # type: ignore[attr-defined]
        request._request.tenant = api_key.tenant  # type: ignore[attr-defined]
        return (None, api_key)

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class HasTenant(permissions.BasePermission):
    """A request acts for exactly one tenant: an API key's, or the session user's current one."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(request._request, "principal", None) is None:
            if request.successful_authenticator is None and not getattr(
                request.user, "is_authenticated", False
            ):
                raise exceptions.NotAuthenticated()
            return False
        return True


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Describes the Bearer API key in the OpenAPI schema."""

    target_class = "governance.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A tenant API key: tsk_<prefix>_<secret>"}
