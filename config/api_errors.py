"""Map errors raised under the REST API to RFC 9457 problem details with a stable code."""

from __future__ import annotations

from typing import Any

import kombu.exceptions
from django import db
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from config.errors import ApplicationError
from config.problems import problem_body

# A dependency down or not answering in time: the database (connect_timeout), the broker.
UNAVAILABLE = (db.OperationalError, db.InterfaceError, kombu.exceptions.OperationalError)


def problem(status: int, code: str, detail: Any, *, path: str = "") -> Response:
    """A problem-details response (see ``problem_body``)."""
    return Response(
        problem_body(status, code, detail, path=path), status=status, content_type="application/problem+json"
    )


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Problem details; under /v1/ (the OpenAI-compatible endpoints) also OpenAI's ``error``."""
    request = context.get("request")
    return _problem_for(exc, context, request.path if request is not None else "")


def _problem_for(exc: Exception, context: dict[str, Any], path: str) -> Response | None:
    """Map domain and DRF errors to problem details, and a dependency that is down (the database,
    the broker) to a 503 the client may retry; anything else stays a 500 (a bug)."""
    if isinstance(exc, ApplicationError):
        return problem(exc.status, exc.code, exc.message, path=path)
    if isinstance(exc, UNAVAILABLE):
        result = problem(
            503, "service_unavailable", "A service Tessera depends on is not answering; try again shortly.",
            path=path,
        )  # fmt: skip
        result["Retry-After"] = "30"
        return result
    # Django's own 404 and 403 (a view's get_object_or_404, an unknown ?format=) as DRF's, so their
    # code is "not_found" / "permission_denied" like every other problem.
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = drf_default_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.APIException):
        code = exc.get_codes()
        code_text = code if isinstance(code, str) else "invalid"
        detail = (
            response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        )
        result = problem(response.status_code, code_text, detail, path=path)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in response:
                result[header] = response[header]
        return result
    return response
