"""LLM providers as LangChain chat models, chosen per tenant, each behind a circuit breaker.

    local       the embedded GGUF model on the CPU (the default; no server, no network)
    openai      an OpenAI-compatible server of the operator's (``llm.connections``) through
                ``langchain_openai.ChatOpenAI`` (vLLM, Ollama, llama.cpp's server, OpenAI, Azure
                OpenAI's v1 endpoint), over an HTTP client guarded by ``config.outbound``
    extractive  no LLM at all: the answer is the cited passages

A provider that fails ``failures`` times in a row is skipped for ``reset_after_s`` seconds (the
circuit is open), so a dead server costs one timeout, not one per question.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.answering.llm.local import LocalChatModel, LocalModelUnavailable, local_model_file
from config.outbound import OutboundPolicy, OutboundRefused, guarded_client


class Provider(StrEnum):
    LOCAL = "local"
    OPENAI = "openai"
    EXTRACTIVE = "extractive"


class LlmUnavailable(RuntimeError):
    """No LLM can be asked right now (misconfigured, circuit open, budget spent); say why."""


@dataclass(frozen=True, slots=True)
class LlmConfig:
    """Which chat model answers for a tenant (one of the operator's connections), and how patiently."""

    provider: Provider
    model: str
    connection: str = ""  # the operator's connection name ("": the site default)
    base_url: str = ""
    api_key: str = field(default="", repr=False)  # the key itself: never logged, stored or shown
    unavailable: str = ""  # why no model can be had (no key...), in words fit for the tenant
    allowed_hosts: tuple[str, ...] = ()  # private hosts the operator allows (config.outbound)
    owner: str = ""  # the tenant whose own key this connection uses (its breaker is its own)
    timeout_s: float = 60.0
    max_retries: int = 1
    max_tokens: int = 200
    n_threads: int = 2

    @property
    def breaker_key(self) -> str:
        return f"{self.provider}|{self.connection}|{self.base_url}|{self.model}|{self.owner}"


def chat_model_for(config: LlmConfig, *, models_dir: Path) -> BaseChatModel:
    """The LangChain chat model of ``config``; raises :class:`LlmUnavailable` if it cannot exist."""
    if config.unavailable:
        raise LlmUnavailable(config.unavailable)
    if config.provider == Provider.LOCAL:
        try:
            path = local_model_file(config.model, models_dir)
        except LocalModelUnavailable as exc:
            raise LlmUnavailable(str(exc)) from exc
        return LocalChatModel(
            model_name=config.model,
            model_path=str(path),
            max_tokens=config.max_tokens,
            n_threads=config.n_threads,
        )
    if config.provider == Provider.OPENAI:
        return _openai_model(config)
    raise LlmUnavailable(f"The provider {config.provider!r} has no chat model (extractive answers only).")


def _openai_model(config: LlmConfig) -> BaseChatModel:
    """A ChatOpenAI whose HTTP client goes only where :mod:`config.outbound` allows, follows no
    redirect and reads no proxy variables; the key is the connection's own."""
    from langchain_openai import ChatOpenAI

    policy = OutboundPolicy(allowed_hosts=config.allowed_hosts)
    try:
        policy.check_url(config.base_url)
    except OutboundRefused as exc:
        raise LlmUnavailable(f"the connection's address is not allowed: {exc}") from exc
    return ChatOpenAI(  # type: ignore[call-arg]
        model=config.model,
        base_url=config.base_url,
        api_key=config.api_key or "not-needed",  # type: ignore[arg-type]  # keyless local servers
        timeout=config.timeout_s,
        max_retries=config.max_retries,
        max_tokens=config.max_tokens,
        temperature=0.0,
        stream_usage=True,
        http_client=guarded_client(policy, timeout=config.timeout_s),
    )


class CircuitBreaker:
    """Closed: calls go through. After ``failures`` failures in a row: open for ``reset_after_s``,
    then one trial call (half-open) decides whether it closes again."""

    def __init__(
        self, *, failures: int = 3, reset_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._count = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.reset_after_s:
                self._opened_at = self._clock()  # half-open: one caller tries, the rest wait again
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._count = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._count += 1
            if self._count >= self.failures:
                self._opened_at = self._clock()

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None


_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(config: LlmConfig) -> CircuitBreaker:
    """The process-wide breaker of ``config``'s provider endpoint and model."""
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(config.breaker_key, CircuitBreaker())


def reset_breakers() -> None:
    """Forget every breaker's state (tests)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()


def estimated_cost(
    model: str, prompt_tokens: int, completion_tokens: int, prices: dict[str, list[float]]
) -> float:
    """Dollars for one call from the price table (per million tokens: [prompt, completion]); 0 if unpriced."""
    prompt_price, completion_price = prices.get(model, [0.0, 0.0])
    return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1_000_000
