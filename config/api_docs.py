"""The API's OpenAPI schema and its browsable docs (Swagger UI, ReDoc).

They describe every endpoint, so a private deployment need not publish them: by default only a
signed-in member (the session) or a valid API key may read them; an anonymous call to the schema is
a 401 problem and an anonymous browser is sent to the sign-in page. ``TESSERA_PUBLIC_API_DOCS=1``
publishes them. Both pages are served from Tessera's own static files under the site's strict
Content-Security-Policy: the Swagger UI's start-up script is a file of its own (drf-spectacular's
split view) and its inline style a static stylesheet; only ReDoc, whose renderer writes its styles
at run time and parses the schema in a worker, gets inline styles and ``blob:`` workers on its own
response.
"""

from __future__ import annotations

from typing import Any

from csp.decorators import csp_update
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework import exceptions, permissions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.authentication import HasTenant

# What ReDoc needs beyond the site's policy, and nothing more: scripts stay 'self' only.
REDOC_CSP = {"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]}


def api_docs_are_public() -> bool:
    """Whether the operator published the schema and its docs (read per request, not at import)."""
    return bool(settings.TESSERA.get("PUBLIC_API_DOCS", False))


class ApiDocsAccess(permissions.BasePermission):
    """A signed-in member of a workspace or a valid API key, unless the docs are public."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return api_docs_are_public() or HasTenant().has_permission(request, view)


class ApiSchemaView(SpectacularAPIView):
    """``/api/schema/``: the OpenAPI document; anonymous: 401 (unless public)."""

    permission_classes = [ApiDocsAccess]


class _SignInFirst(APIView):
    """An anonymous browser asking for a docs page is sent to the sign-in page, then back."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, exceptions.NotAuthenticated):
            # A plain redirect: DRF's finalize_response passes any HttpResponse through as is.
            return redirect_to_login(self.request.get_full_path())  # type: ignore[return-value]
        return super().handle_exception(exc)


class ApiDocsView(_SignInFirst, SpectacularSwaggerSplitView):
    """``/api/docs/``: Swagger UI; its start-up script is served by the same URL (``?script``)."""

    permission_classes = [ApiDocsAccess]
    template_name = "api/swagger_ui.html"


@method_decorator(csp_update(REDOC_CSP), name="dispatch")
class ApiRedocView(_SignInFirst, SpectacularRedocView):
    """``/api/redoc/``: ReDoc, without the web fonts drf-spectacular's page fetches from Google."""

    permission_classes = [ApiDocsAccess]
    template_name = "api/redoc.html"
