"""The JSON path to an answer (the full REST API, with streaming and OpenAI compatibility, comes
with the REST issue)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant import services
from assistant.models import Message
from config.api import AnswerRateThrottle, KeyRateThrottle, principal_of


class AskInput(serializers.Serializer[Any]):
    question = serializers.CharField(max_length=services.MAX_QUESTION_CHARS)
    conversation = serializers.IntegerField(required=False, min_value=1)


CITATION = inline_serializer(
    "Citation",
    many=True,
    fields={
        "marker": serializers.IntegerField(),
        "document_id": serializers.IntegerField(allow_null=True),
        "version_id": serializers.IntegerField(allow_null=True),
        "chunk_id": serializers.IntegerField(allow_null=True),
        "title": serializers.CharField(),
        "page": serializers.IntegerField(allow_null=True),
        "heading_path": serializers.ListField(child=serializers.CharField()),
        "char_start": serializers.IntegerField(),
        "char_end": serializers.IntegerField(),
    },
)


class AskApi(APIView):
    """Ask a question; the answer comes back with its citations and how it was produced."""

    required_scope = "ask"
    throttle_classes = [KeyRateThrottle, AnswerRateThrottle]

    @extend_schema(
        request=AskInput,
        responses=inline_serializer(
            "Answer",
            {
                "id": serializers.IntegerField(),
                "conversation": serializers.IntegerField(),
                "answer": serializers.CharField(),
                "kind": serializers.CharField(),
                "route": serializers.CharField(),
                "llm_called": serializers.BooleanField(),
                "cached_from": serializers.IntegerField(
                    allow_null=True, help_text="The answer this one reuses from the answer cache."
                ),
                "citations": CITATION,
                "usage": serializers.DictField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        data = AskInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = None
        if "conversation" in data.validated_data:
            conversation = services.conversation_get(
                principal=principal, conversation_id=data.validated_data["conversation"]
            )
        message = services.answer(
            principal=principal, question=data.validated_data["question"], conversation=conversation
        )
        return Response(answer_json(message))


def answer_json(message: Message) -> dict[str, Any]:
    """An answer, its citations and its ledger, as the API returns it."""
    return {
        "id": message.pk,
        "conversation": message.conversation_id,
        "answer": message.text,
        "kind": message.kind,
        "route": message.route,
        "llm_called": message.llm_called,
        "cached_from": message.cached_from_id,
        "citations": citations_json(message),
        "usage": {
            "provider": message.provider,
            "model": message.model_name,
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "cost_usd": float(message.cost_usd),
            "timings_ms": message.timings_ms,
            "unsupported_sentences": message.unsupported_sentences,
            "fallback_reason": message.fallback_reason,
        },
    }


def citations_json(message: Message) -> list[dict[str, Any]]:
    """An answer's citations (marker, document, version, chunk, place), as the API returns them
    (the ``Citation`` schema); prefetch ``citations`` when shaping many messages."""
    return [
        {
            "marker": c.marker,
            "document_id": c.document_id,
            "version_id": c.version_id,
            "chunk_id": c.chunk_id,
            "title": c.title,
            "page": c.page,
            "heading_path": c.heading_path,
            "char_start": c.char_start,
            "char_end": c.char_end,
        }
        for c in message.citations.all()
    ]
