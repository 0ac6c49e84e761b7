"""Chat models for tests: scripted replies (streamed word by word) and a provider that is down."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult


class FinishingChatModel(GenericFakeChatModel):
    """``GenericFakeChatModel`` whose streams end as a provider's do: an empty last chunk with the
    finish reason (``finish``: "stop", "length", or None for a stream cut without one)."""

    finish: str | None = "stop"

    def _stream(self, *args: Any, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        yield from super()._stream(*args, **kwargs)
        if self.finish is not None:
            yield ChatGenerationChunk(
                message=AIMessageChunk(content=""), generation_info={"finish_reason": self.finish}
            )


def scripted(*replies: str, finish: str | None = "stop") -> GenericFakeChatModel:
    """A chat model that answers ``replies`` in turn (streaming splits them on spaces), each stream
    ending with ``finish`` as its finish reason."""
    return FinishingChatModel(messages=iter([AIMessage(content=r) for r in replies]), finish=finish)


class DownChatModel(BaseChatModel):
    """A provider whose every call fails, as a dead server's would; counts the calls."""

    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "down"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls += 1
        raise ConnectionError("connection refused")
