"""Ask over the REST API: the JSON answer, or the same answer streamed as Server-Sent Events."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.answering import pipeline, questions
from assistant.answering.rate_limits import AskRateLimited
from assistant.api.fields import JsonBooleanField, JsonIntegerField, JsonTextField
from assistant.chat import sse
from assistant.models import Message
from config.api import MAX_ID, principal_of
from config.errors import ApplicationError
from config.problems import problem_body
from governance.access import Principal

logger = logging.getLogger(__name__)


class AskInput(serializers.Serializer[Any]):
    question = JsonTextField(max_length=questions.MAX_QUESTION_CHARS)
    conversation = JsonIntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Continue this conversation of yours."
    )
    stream = JsonBooleanField(
        default=False, help_text="Answer as Server-Sent Events (text/event-stream): question, token..., done."
    )


class CitationSerializer(serializers.Serializer[Any]):
    """A passage the answer cites with ``[marker]``; the ids are null once the document is deleted."""

    marker = serializers.IntegerField()
    document_id = serializers.IntegerField(allow_null=True)
    version_id = serializers.IntegerField(allow_null=True)
    chunk_id = serializers.IntegerField(allow_null=True)
    title = serializers.CharField(allow_blank=True)
    page = serializers.IntegerField(allow_null=True)
    heading_path = serializers.ListField(child=serializers.CharField(allow_blank=True))
    char_start = serializers.IntegerField()
    char_end = serializers.IntegerField()

    class Meta:
        ref_name = "Citation"


class UsageSerializer(serializers.Serializer[Any]):
    """The answer's ledger: which model, how many tokens, what it cost and how long each step took."""

    provider = serializers.CharField(allow_blank=True, help_text="Empty when no LLM was called.")
    model = serializers.CharField(allow_blank=True, help_text="Empty when no LLM was called.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.FloatField()
    timings_ms = serializers.DictField(child=serializers.FloatField(), help_text="Milliseconds per step.")
    unsupported_sentences = serializers.IntegerField(
        help_text="Sentences of the answer that no cited passage supports."
    )
    fallback_reason = serializers.CharField(
        allow_blank=True, help_text="Why the answer is extractive, or empty."
    )

    class Meta:
        ref_name = "AnswerUsage"


class AnswerSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    conversation = serializers.IntegerField()
    answer = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True, help_text="answered, extractive, not_found, no_llm, ...")
    route = serializers.CharField(
        allow_blank=True, help_text="How the question was routed (empty if it was not)."
    )
    llm_called = serializers.BooleanField()
    cached_from = serializers.IntegerField(
        allow_null=True, help_text="The answer this one reuses from the answer cache."
    )
    citations = CitationSerializer(many=True)
    usage = UsageSerializer()

    class Meta:
        ref_name = "Answer"


class StreamNegotiation(DefaultContentNegotiation):
    """``Accept: text/event-stream`` is how SSE clients ask for ``stream: true``: not a 406. What
    is not a stream (an error before it starts) is still rendered as JSON, with its own type."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        if "text/event-stream" in request.META.get("HTTP_ACCEPT", ""):
            first = next(iter(renderers))
            return first, first.media_type
        selected: tuple[BaseRenderer, str] = super().select_renderer(request, renderers, format_suffix)
        return selected


SSE_EVENT = {
    "type": "object",
    "description": (
        "One Server-Sent Event; `data` is JSON: `question`: {question_id, conversation}; `token`: "
        "{text}; `done`: an Answer; `error`: a Problem."
    ),
    "properties": {
        "event": {"type": "string", "enum": ["question", "token", "done", "error"]},
        "data": {"type": "string", "description": "JSON text."},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["event", "data"],
}
SSE_EXAMPLE = (
    'event: question\ndata: {"question_id": 41, "conversation": 7}\n\n'
    'event: token\ndata: {"text": "Sixteen"}\n\n'
    'event: done\ndata: {"id": 42, "conversation": 7, "answer": "Sixteen weeks [1].", ...}\n\n'
)


class AskingApiView(APIView):
    """An endpoint that asks. Besides the per-call rate of every endpoint (DRF's throttle), the ask
    rate is charged by the service, the same budget as the chat's; over it, the 429 problem says
    when to come back (``Retry-After``), as DRF's own throttle does."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, AskRateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response


class AskApi(AskingApiView):
    """Ask a question; the answer comes back with its citations and how it was produced."""

    required_scope = "ask"
    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = StreamNegotiation

    @extend_schema(
        request=AskInput,
        responses={(200, "application/json"): AnswerSerializer, (200, "text/event-stream"): SSE_EVENT},
        examples=[
            OpenApiExample("stream", value=SSE_EXAMPLE, response_only=True, media_type="text/event-stream")
        ],
        description=(
            "Without `stream`: the answer as JSON. With `stream: true`: Server-Sent Events, first "
            "`question` (`{question_id, conversation}`), then `token` events (`{text}`) as the LLM "
            "writes, then one `done` whose data is the JSON answer; a failure after the stream "
            "began is an `error` event whose data is a problem (RFC 9457)."
        ),
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        principal = principal_of(request)
        data = AskInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = None
        if "conversation" in data.validated_data:
            conversation = questions.conversation_get(
                principal=principal, conversation_id=data.validated_data["conversation"]
            )
        question = data.validated_data["question"]
        if data.validated_data["stream"]:
            asked = questions.question_ask(principal=principal, question=question, conversation=conversation)
            return _event_stream(principal, asked)
        message = pipeline.answer(principal=principal, question=question, conversation=conversation)
        return Response(answer_json(message))


def _event_stream(principal: Principal, question: Message) -> StreamingHttpResponse:
    return sse.stream_response(_sse(principal, question))


def _sse(principal: Principal, question: Message) -> Iterator[str]:
    """question, token..., done; a failure once the 200 is sent ends the stream with ``error``."""
    yield _event("question", {"question_id": question.pk, "conversation": question.conversation_id})
    try:
        for event in pipeline.answer_stream(principal=principal, question=question):
            if event.kind == "token":
                yield _event("token", {"text": event.text})
            elif event.message is not None:
                yield _event("done", answer_json(event.message))
    except ApplicationError as exc:
        yield _event("error", problem_body(exc.status, exc.code, exc.message))
    except Exception:  # the stream has begun: end it with a problem, never a dropped connection
        logger.exception("api answer stream failed tenant=%s question=%s", principal.tenant_id, question.pk)
        yield _event("error", problem_body(500, "answer_failed", "Something went wrong while answering."))


def _event(name: str, data: dict[str, Any]) -> str:
    """One SSE event; JSON on one line, so a single ``data:`` field carries it."""
    return sse.event(json.dumps(data), name=name)


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
