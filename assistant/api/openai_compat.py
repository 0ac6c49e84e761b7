"""The OpenAI-compatible endpoints (``/v1/models``, ``/v1/chat/completions``): OpenAI's own clients
talk to Tessera by changing only ``base_url`` and ``api_key``. Every answer comes from Tessera's
pipeline (routing, retrieval, LLM-last, verification), with its citations in an extra field."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.answering import pipeline, questions
from assistant.api import openai_format as fmt
from assistant.api.ask import AskingApiView
from assistant.chat import sse
from assistant.models import Message
from config.api import principal_of
from config.api_schema import ERROR_STATUSES, PROBLEM_MEDIA_TYPES, TesseraAutoSchema
from config.errors import NotFound
from governance.access import Principal

logger = logging.getLogger(__name__)

STREAM_DESCRIPTION = (
    "With `stream: true`: Server-Sent Events, one `data: <chat.completion.chunk JSON>` line each; the "
    "chunk with `finish_reason: stop` carries `citations` and `tessera`; a usage chunk follows when "
    "`stream_options.include_usage`; the stream ends with `data: [DONE]`."
)


class OpenAiSchema(TesseraAutoSchema):
    """Errors here are problems that also carry OpenAI's ``error`` member."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if direction == "response":
            for status in ERROR_STATUSES:
                responses[status] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    fmt.OpenAiProblemSerializer, status, PROBLEM_MEDIA_TYPES, direction
                )
        return responses


def _model(principal: Principal) -> dict[str, Any]:
    tenant = principal.tenant
    return fmt.model_json(created=int(tenant.created_at.timestamp()), owned_by=tenant.slug)


def _check_model(model_id: str) -> None:
    if model_id != fmt.MODEL_ID:
        detail = f"The model {model_id!r} does not exist: use {fmt.MODEL_ID!r}."
        raise NotFound(detail, code="model_not_found")


class ModelListApi(APIView):
    """The models a key may use: Tessera itself, answering from the tenant's documents."""

    required_scope = "ask"
    schema = OpenAiSchema()

    @extend_schema(operation_id="openai_models_list", responses=fmt.MODEL_LIST)
    def get(self, request: Request) -> Response:
        return Response({"object": "list", "data": [_model(principal_of(request))]})


class ModelApi(APIView):
    """One model by its id (only ``tessera`` exists)."""

    required_scope = "ask"
    schema = OpenAiSchema()

    @extend_schema(operation_id="openai_models_retrieve", responses=fmt.OpenAiModelSerializer)
    def get(self, request: Request, model_id: str) -> Response:
        _check_model(model_id)
        return Response(_model(principal_of(request)))


class ChatCompletionsApi(AskingApiView):
    """Answer the last user message of an OpenAI chat request with Tessera's own pipeline (a new
    conversation per call, or ``conversation`` to continue one of the caller's)."""

    required_scope = "ask"
    parser_classes = [JSONParser]
    schema = OpenAiSchema()

    @extend_schema(
        operation_id="openai_chat_completions_create",
        description=f"Answer the last user message with Tessera's own pipeline.\n\n{STREAM_DESCRIPTION}",
        request=fmt.ChatCompletionRequest,
        responses={
            (200, "application/json"): fmt.ChatCompletionSerializer,
            (200, "text/event-stream"): OpenApiResponse(fmt.STREAM_EVENT, description="stream"),
        },
    )
    def post(self, request: Request) -> Response | StreamingHttpResponse:
        data = fmt.ChatCompletionRequest(data=request.data)
        data.is_valid(raise_exception=True)
        _check_model(data.validated_data["model"])
        principal = principal_of(request)
        conversation = None
        if data.validated_data.get("conversation"):
            conversation = questions.conversation_get(
                principal=principal, conversation_id=data.validated_data["conversation"]
            )
        question = questions.question_ask(
            principal=principal,
            question=fmt.last_question(data.validated_data["messages"]) or "",
            conversation=conversation,
        )
        events = pipeline.answer_stream(principal=principal, question=question)
        if data.validated_data.get("stream"):
            chunks = _chunks(principal, question, events, fmt.include_usage(data.validated_data))
            return sse.stream_response(chunks)
        return Response(fmt.completion_json(pipeline.answer_of(events)))


def _chunks(
    principal: Principal, question: Message, events: Iterator[pipeline.AnswerEvent], usage: bool
) -> Iterator[str]:
    """The stream: a role chunk, the answer's text, the final chunk, usage if asked, ``[DONE]``."""
    chunk_id, created = fmt.completion_id(question), fmt.created_of(question)
    yield fmt.sse_data(fmt.chunk_json(chunk_id, created, {"role": "assistant", "content": ""}))
    streamed: list[str] = []
    try:
        for event in events:
            if event.kind == "token":
                streamed.append(event.text)
                yield fmt.sse_data(fmt.chunk_json(chunk_id, created, {"content": event.text}))
            elif event.message is not None:
                yield from _ending(event.message, "".join(streamed), chunk_id, created, usage)
    except Exception:  # the 200 is sent: end the stream with an error OpenAI clients raise, not a cut
        logger.exception("chat completion failed tenant=%s question=%s", principal.tenant_id, question.pk)
        error = {"message": "The answer failed; please retry.", "type": "server_error"}
        yield fmt.sse_data({"error": {**error, "code": "answer_failed"}})
    yield fmt.sse_data("[DONE]")


def _ending(message: Message, streamed: str, chunk_id: str, created: int, usage: bool) -> Iterator[str]:
    if rest := fmt.remainder(streamed, message.text):
        yield fmt.sse_data(fmt.chunk_json(chunk_id, created, {"content": rest}))
    yield fmt.sse_data(fmt.final_chunk_json(message, chunk_id, created))
    if usage:
        yield fmt.sse_data(fmt.usage_chunk_json(message, chunk_id, created))
