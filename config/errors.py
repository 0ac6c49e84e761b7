"""One application error type with a stable code, and the middleware that maps it to HTTP.

Services raise ``ApplicationError`` subclasses; this module's middleware (HTML pages) and
``config.api_errors`` (REST) turn them into a 4xx with a clear message. Nothing a user can
cause becomes a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


class ApplicationError(Exception):
    """A domain error a user can cause: carries a stable ``code``, a message and an HTTP status."""

    status = 400
    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFound(ApplicationError):
    """Missing *or* belonging to another tenant: the two must look the same."""

    status = 404
    code = "not_found"


class Forbidden(ApplicationError):
    """The principal is known and in the right tenant but lacks the role or scope."""

    status = 403
    code = "forbidden"


class Conflict(ApplicationError):
    status = 409
    code = "conflict"


class StorageFull(ApplicationError):
    """The server has no room (or its disk fails) to keep what was sent; nothing of it was kept."""

    status = 507
    code = "insufficient_storage"


class ApplicationErrorMiddleware:
    """Render an ``ApplicationError`` raised by an HTML view as an error page with its status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, ApplicationError):
            return None
        template = "partials/error.html" if getattr(request, "htmx", False) else "error.html"
        return render(
            request,
            template,
            {"error": exception, "status": exception.status},
            status=exception.status,
        )
