"""The OpenAI chat-completions wire format: the request Tessera accepts and the responses it gives
(a completion, or the chunks of a stream), shaped from a stored answer. No views, no services."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from assistant.api.ask import CitationSerializer, answer_json
from assistant.chat import sse
from assistant.models import Message
from config.api_schema import ProblemSerializer

MODEL_ID = "tessera"
ROLES = ("system", "developer", "user", "assistant", "tool")


class TextPartSerializer(serializers.Serializer[Any]):
    """One part of a message's content: only text parts are understood."""

    type = serializers.ChoiceField(choices=["text"])
    text = serializers.CharField(allow_blank=True, trim_whitespace=False)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {"type": {"type": "string", "enum": ["text"]}, "text": {"type": "string"}},
                    "required": ["type", "text"],
                },
            },
        ],
        "nullable": True,
    }
)
class ContentField(serializers.Field):  # type: ignore[type-arg]
    """A message's content: a string, a list of text parts (joined), or null (an assistant's tool
    call). Anything else is a 400."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, str):
            text = data
        elif isinstance(data, list) and data:
            parts = TextPartSerializer(data=data, many=True)
            parts.is_valid(raise_exception=True)
            text = "\n".join(part["text"] for part in parts.validated_data)
        else:
            raise serializers.ValidationError("Content must be a string or a non-empty list of text parts.")
        ProhibitNullCharactersValidator()(text)
        ProhibitSurrogateCharactersValidator()(text)
        return text

    def to_representation(self, value: Any) -> Any:
        return value


class ChatMessageSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=ROLES)
    content = ContentField()


class StreamOptionsSerializer(serializers.Serializer[Any]):
    include_usage = serializers.BooleanField(required=False, default=False)


class ChatCompletionRequest(serializers.Serializer[Any]):
    """OpenAI's request shape. Sampling fields are accepted and left to the tenant's own LLM
    settings; unknown fields are ignored. ``conversation`` (Tessera's) continues a conversation."""

    model = serializers.CharField(max_length=200)
    messages = serializers.ListField(child=ChatMessageSerializer(), min_length=1, max_length=500)
    stream = serializers.BooleanField(required=False, default=False, allow_null=True)
    stream_options = StreamOptionsSerializer(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=2)
    max_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    max_completion_tokens = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    n = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=1, help_text="Only one choice: 1."
    )
    user = serializers.CharField(required=False, allow_blank=True, max_length=256)
    conversation = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, help_text="Tessera: continue this conversation."
    )

    def validate_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if last_question(messages) is None:
            raise serializers.ValidationError("No user message: nothing to answer.")
        return messages


def last_question(messages: list[dict[str, Any]]) -> str | None:
    """The question to answer: the text of the last user message (None when there is none)."""
    for message in reversed(messages):
        if message["role"] == "user":
            return str(message.get("content") or "")
    return None


def include_usage(data: Mapping[str, Any]) -> bool:
    return bool((data.get("stream_options") or {}).get("include_usage"))


def model_json(*, created: int, owned_by: str) -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": created, "owned_by": owned_by}


def created_of(message: Message) -> int:
    return int(message.created_at.timestamp())


def completion_id(message: Message) -> str:
    return f"chatcmpl-{message.pk}"


def usage_json(message: Message) -> dict[str, int]:
    prompt, completion = message.prompt_tokens or 0, message.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def tessera_json(message: Message) -> dict[str, Any]:
    """How Tessera produced the answer (its route, whether an LLM was called) and where it is stored."""
    return {
        "route": message.route,
        "llm_called": message.llm_called,
        "kind": message.kind,
        "conversation": message.conversation_id,
        "message_id": message.pk,
    }


def completion_json(message: Message) -> dict[str, Any]:
    """A non-streamed chat completion of a stored answer, with its citations."""
    return {
        "id": completion_id(message),
        "object": "chat.completion",
        "created": created_of(message),
        "model": MODEL_ID,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": message.text},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": usage_json(message),
        "citations": answer_json(message)["citations"],
        "tessera": tessera_json(message),
    }


def chunk_json(
    chunk_id: str, created: int, delta: dict[str, Any], finish_reason: str | None = None
) -> dict[str, Any]:
    """One chunk of a stream with one choice."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [choice],
    }


def final_chunk_json(message: Message, chunk_id: str, created: int) -> dict[str, Any]:
    """The last choice chunk: ``stop``, the citations, and the stored answer in ``tessera.answer``
    (the text streamed is the LLM's draft; if verification replaced it, this is what was kept)."""
    return {
        **chunk_json(chunk_id, created, {}, "stop"),
        "citations": answer_json(message)["citations"],
        "tessera": {**tessera_json(message), "answer": message.text},
    }


def usage_chunk_json(message: Message, chunk_id: str, created: int) -> dict[str, Any]:
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": MODEL_ID,
        "choices": [],
        "usage": usage_json(message),
    }


def sse_data(payload: dict[str, Any] | str) -> str:
    """One ``data:`` line of a stream (JSON has no raw newlines, so one line is enough)."""
    return sse.event(payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")))


def remainder(streamed: str, stored: str) -> str:
    """What the stream still owes: the whole answer if nothing was streamed (no LLM, a cached
    answer), the tail if the stored answer extends the streamed text, else nothing."""
    if not streamed:
        return stored
    return stored[len(streamed) :] if stored.startswith(streamed) else ""


# The responses, for the schema (the functions above build them).


class OpenAiModelSerializer(serializers.Serializer[Any]):
    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["model"])
    created = serializers.IntegerField()
    owned_by = serializers.CharField(help_text="The tenant's slug.")


MODEL_LIST = inline_serializer(
    "OpenAiModelList",
    {"object": serializers.ChoiceField(choices=["list"]), "data": OpenAiModelSerializer(many=True)},
)


class UsageSerializer(serializers.Serializer[Any]):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()

    class Meta:
        ref_name = "CompletionUsage"


class TesseraAnswerSerializer(serializers.Serializer[Any]):
    route = serializers.CharField()
    llm_called = serializers.BooleanField()
    kind = serializers.CharField()
    conversation = serializers.IntegerField()
    message_id = serializers.IntegerField()


class AssistantMessageSerializer(serializers.Serializer[Any]):
    role = serializers.ChoiceField(choices=["assistant"])
    content = serializers.CharField()


class CompletionChoiceSerializer(serializers.Serializer[Any]):
    index = serializers.IntegerField()
    message = AssistantMessageSerializer()
    finish_reason = serializers.CharField()
    logprobs = serializers.JSONField(allow_null=True)


class ChatCompletionSerializer(serializers.Serializer[Any]):
    """A chat completion; ``citations`` and ``tessera`` are Tessera's extra fields."""

    id = serializers.CharField()
    object = serializers.ChoiceField(choices=["chat.completion"])
    created = serializers.IntegerField()
    model = serializers.CharField()
    choices = CompletionChoiceSerializer(many=True)
    usage = UsageSerializer()
    citations = CitationSerializer(many=True)
    tessera = TesseraAnswerSerializer()


# One Server-Sent Event of a streamed completion.
STREAM_EVENT = inline_serializer(
    "StreamEvent",
    {
        "data": serializers.CharField(help_text="A chat.completion.chunk as JSON, or [DONE] (last)."),
        "event": serializers.CharField(required=False),
    },
)


class OpenAiErrorSerializer(serializers.Serializer[Any]):
    message = serializers.CharField()
    type = serializers.CharField(help_text="invalid_request_error, authentication_error, ...")
    code = serializers.CharField()


class OpenAiProblemSerializer(ProblemSerializer):
    """A problem that also carries OpenAI's ``error`` member (its clients show ``error.message``)."""

    error = OpenAiErrorSerializer()

    class Meta:
        ref_name = "OpenAiProblem"
