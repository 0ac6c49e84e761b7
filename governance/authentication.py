"""REST authentication: ``Authorization: Bearer <key>`` resolves to the key's tenant."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from governance.access import principal_for_api_key
from governance.services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """Bearer API keys. A wrong or revoked key is a 401, never a fall-through to anonymous."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
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
