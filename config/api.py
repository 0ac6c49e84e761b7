"""What every REST endpoint shares: the caller's principal, scopes, pagination, rate limits,
request size limits and the audit row of each call.

Views declare ``required_scope`` (``ask``, ``search``, ``ingest``, ``admin``, or ``None`` for an
endpoint any authenticated caller may use); a view that declares nothing is refused, so a new
endpoint cannot forget its scope.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import register_converter
from rest_framework import permissions
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from config.problems import problem_body
from governance.access import Principal, require_scope
from governance.models import ApiKey, AuditEvent
from governance.services import API_KEY_PREFIX

logger = logging.getLogger(__name__)

# Paths served by the REST API and the OpenAI-compatible endpoints (the schema and its docs excepted).
API_PREFIXES = ("/api/v1/", "/v1/")
JSON_BODY_MAX_BYTES = 1024 * 1024
UNSET = object()
# Large enough for any id a database hands out, small enough for every database to compare with.
MAX_ID = 2**63 - 1


class ObjectIdConverter:
    """An object's id in an API path (``<object_id:name>``). Any segment matches, so that a malformed
    id ("abc", "-1", a number too large for the database) reaches the view and is the same 404
    problem as a missing object; such a segment becomes 0, which no row has."""

    regex = "[^/]+"

    def to_python(self, value: str) -> int:
        digits = value.isascii() and value.isdigit() and len(value) <= len(str(MAX_ID))
        return int(value) if digits and int(value) <= MAX_ID else 0

    def to_url(self, value: int) -> str:
        return str(value)


# Registered here, once: every app's api_urls imports its views, which import this module.
register_converter(ObjectIdConverter, "object_id")


def principal_of(request: Request) -> Principal:
    """The principal an authenticated API request acts as (set by the authentication)."""
    principal: Principal = request._request.principal  # type: ignore[attr-defined]
    return principal


class HasScope(permissions.BasePermission):
    """The view's ``required_scope`` must be held by the caller (admins hold every scope)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = getattr(view, "required_scope", UNSET)
        if scope is UNSET:
            logger.error("API view %s declares no required_scope: refused", type(view).__name__)
            return False
        principal = getattr(request._request, "principal", None)
        if principal is not None and scope is not None:
            require_scope(principal, str(scope))
        return True


class Pagination(PageNumberPagination):
    """``?page=N&page_size=M`` on every list; the body carries count, next and previous links."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int:
        # DRF would quietly fall back to the default for "abc", 0 or 1000: a client asking for
        # something it cannot have is told so.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError({"page_size": [f"A whole number from 1 to {self.max_page_size}."]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            elif parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters


class KeyRateThrottle(SimpleRateThrottle):
    """Requests per API key (or per signed-in user) in a sliding window; over it: 429 + Retry-After.
    Asks have a budget of their own, charged by the service whatever the way in
    (``assistant.answering.rate_limits``), not a DRF throttle the browser chat would not go through.

    The counts live in the default cache, which is shared by every web process (Redis, or a folder
    on the embedded default), so the limit holds however many processes serve the API."""

    scope = "api"

    def get_rate(self) -> str | None:
        # Read at each request (DRF binds the rates at import), so settings overrides take effect.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return str(rate) if rate else None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        principal = getattr(request._request, "principal", None)
        if principal is None:
            return None  # unauthenticated requests are refused before they cost anything
        who = f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"
        return self.cache_format % {"scope": self.scope, "ident": f"{principal.tenant_id}:{who}"}


def _problem(request: HttpRequest, status: int, code: str, detail: str) -> JsonResponse:
    body = problem_body(status, code, detail, path=request.path)
    return JsonResponse(body, status=status, content_type="application/problem+json")


def _body_limit(request: HttpRequest) -> int:
    """The largest request body this endpoint accepts: files for a multipart upload, else 1 MB."""
    if request.content_type == "multipart/form-data":
        files = settings.TESSERA["API_MAX_FILES_PER_REQUEST"]
        return int(settings.TESSERA["MAX_UPLOAD_BYTES"] * files + JSON_BODY_MAX_BYTES)
    return JSON_BODY_MAX_BYTES


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return -1


class ApiMiddleware:
    """For every API call: refuse a body over the limit before reading it (413), then write one
    audit row with the key or user, the route, the method and the status (never a question, a
    document's text or a secret)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIXES):
            return self.get_response(request)
        length, limit = _declared_length(request), _body_limit(request)
        if length < 0:
            response: HttpResponse = _problem(
                request, 400, "bad_content_length", "Content-Length is not a number."
            )
        elif length > limit:
            response = _problem(
                request,
                413,
                "request_too_large",
                f"The request body is {length} bytes; the limit is {limit} bytes.",
            )
        else:
            response = self.get_response(request)
        if response.status_code == 404 and request.resolver_match is None:
            # No route matched (e.g. a non-numeric id): a problem too, not the HTML error page.
            response = _problem(request, 404, "not_found", "No such resource.")
        _audit(request, response)
        return response


def _route(request: HttpRequest) -> str:
    match = request.resolver_match
    return f"/{match.route}" if match is not None and match.route else request.path[:200]


def _audit(request: HttpRequest, response: HttpResponse) -> None:
    route = _route(request)
    extra = {"method": request.method, "route": route, "status": response.status_code}
    actor = _actor(request)
    if actor is None:
        logger.info("api call without a known principal %s", extra)
        return
    tenant_id, user_id, api_key_id, label = actor
    AuditEvent.objects.create(
        tenant_id=tenant_id,
        actor_id=user_id,
        actor_api_key_id=api_key_id,
        actor_label=label,
        action="api.call",
        target_type="route",
        target_id=route[:64],
        extra=extra,
    )


def _actor(request: HttpRequest) -> tuple[int, int | None, int | None, str] | None:
    """(tenant, user, API key, label) of the caller, or of the key a refused request named."""
    principal: Principal | None = getattr(request, "principal", None)
    if principal is not None:
        return principal.tenant_id, principal.user_id, principal.api_key_id, principal.label
    if getattr(request, "api_key_throttled", False):
        return None  # a flood of wrong keys: logged, never a database read or a row per request
    api_key = _claimed_key(request)
    if api_key is None:
        return None
    return api_key.tenant_id, None, api_key.pk, f"api-key:{api_key.prefix}"


def _claimed_key(request: HttpRequest) -> ApiKey | None:
    """The key a refused request names by its prefix (a revoked key, a wrong secret), so its
    tenant sees the attempt in its trail; None when the header names no key at all."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    parts = raw.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    return ApiKey.objects.filter(prefix=parts[1]).first()
