"""The OpenAPI schema: every operation also documents its errors, as RFC 9457 problem details.

Every endpoint can answer a bad request, a missing or wrong key, a missing scope, another tenant's
(or no) object, an over-large body and a rate limit; with the errors in the schema, a client
generator (and schemathesis in CI) can check every response against it, not only the happy path.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

ERROR_STATUSES = ("400", "401", "403", "404", "405", "406", "409", "413", "415", "429")
PROBLEM_MEDIA_TYPES = ("application/problem+json",)


class ProblemSerializer(serializers.Serializer[Any]):
    """An error: ``code`` is stable (match on it), ``detail`` is for people (a text, or per-field
    messages for a request that failed validation)."""

    type = serializers.CharField(help_text="urn:tessera:error:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Stable error code, e.g. missing_scope, not_found, throttled.")
    detail = serializers.JSONField(help_text="What went wrong: a text, or messages per field.")

    class Meta:
        ref_name = "Problem"


class TesseraAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the problem-details responses of every operation."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status in ERROR_STATUSES:
            responses.setdefault(
                status,
                self._get_response_for_code(  # type: ignore[no-untyped-call]
                    ProblemSerializer, status, PROBLEM_MEDIA_TYPES, direction
                ),
            )
        return responses
