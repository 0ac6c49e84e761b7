"""Chat models for tests: scripted replies (streamed word by word) and a provider that is down."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult


def scripted(*replies: str) -> GenericFakeChatModel:
    """A chat model that answers ``replies`` in turn (streaming splits them on spaces)."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))


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
