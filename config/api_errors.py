"""Map errors raised under the REST API to RFC 9457 problem details with a stable code."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

from config.api import OPENAI_PREFIX
from config.errors import ApplicationError


def problem(status: int, code: str, detail: Any) -> Response:
    """An RFC 9457 problem-details body with Tessera's stable ``code``."""
    return Response(
        {
            "type": f"urn:tessera:error:{code}",
            "title": code.replace("_", " "),
            "status": status,
            "code": code,
            "detail": detail,
        },
        status=status,
        content_type="application/problem+json",
    )


# OpenAI's error types by status, for the ``error`` member its clients read under /v1/.
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def with_openai_error(response: Response) -> Response:
    """Add OpenAI's ``error`` member ({message, type, code}) to a problem, so that OpenAI's clients
    show its message; the problem's own fields stay."""
    data = response.data
    detail = data["detail"]
    message = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
    kind = OPENAI_ERROR_TYPES.get(response.status_code, "invalid_request_error")
    data["error"] = {"message": message, "type": kind, "code": data["code"]}
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Problem details; under /v1/ (the OpenAI-compatible endpoints) also OpenAI's ``error``."""
    response = _problem_for(exc, context)
    request = context.get("request")
    if response is not None and request is not None and request.path.startswith(OPENAI_PREFIX):
        return with_openai_error(response)
    return response


def _problem_for(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Map domain and DRF errors to problem details; anything else stays a 500 (a bug)."""
    if isinstance(exc, ApplicationError):
        return problem(exc.status, exc.code, exc.message)
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
        result = problem(response.status_code, code_text, detail)
        for header in ("WWW-Authenticate", "Retry-After"):
            if header in response:
                result[header] = response[header]
        return result
    return response
