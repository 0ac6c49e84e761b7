"""The one shape of an error: RFC 9457 problem details with Tessera's stable ``code``.

Plain Python (no DRF import), so that the API middleware, DRF's exception handler and the event
streams build the same body without importing each other.
"""

from __future__ import annotations

import json
from typing import Any

# The OpenAI-compatible endpoints live under this prefix; their problems also carry OpenAI's
# ``error`` member, because OpenAI's clients show ``error.message``.
OPENAI_PREFIX = "/v1/"
# OpenAI's error types by status, for that member.
OPENAI_ERROR_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


def problem_body(status: int, code: str, detail: Any, *, path: str = "") -> dict[str, Any]:
    """An RFC 9457 problem-details body with Tessera's stable ``code`` (and, for a path under
    /v1/, OpenAI's ``error`` member {message, type, code}; the problem's own fields stay)."""
    body: dict[str, Any] = {
        "type": f"urn:tessera:error:{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if path.startswith(OPENAI_PREFIX):
        message = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False)
        kind = OPENAI_ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
        body["error"] = {"message": message, "type": kind, "code": code}
    return body
