"""LLM providers as LangChain chat models, chosen per tenant, each behind a circuit breaker.

    local       the embedded GGUF model on the CPU (the default; no server, no network)
    openai      an OpenAI-compatible server of the operator's (``llm.connections``) through
                ``langchain_openai.ChatOpenAI`` (vLLM, Ollama, llama.cpp's server, OpenAI, Azure
                OpenAI's v1 endpoint), over an HTTP client guarded by ``config.outbound``
    extractive  no LLM at all: the answer is the cited passages

A provider that fails ``failures`` times in a row is skipped for ``reset_after_s`` seconds (the
circuit is open), so a dead server costs one timeout, not one per question; the count is shared by
every process through the cache backend.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from langchain_core.language_models.chat_models import BaseChatModel

from assistant.answering.llm.local import LocalChatModel, LocalModelUnavailable, local_model_file
from config.outbound import OutboundPolicy, OutboundRefused, guarded_client

logger = logging.getLogger(__name__)


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
    then one trial call (half-open) decides whether it closes again.

    The state lives in the cache backend (Redis in production), under ``key``, so every web and
    worker process counts the same failures: with N processes a dead server costs ``failures``
    timeouts, not N times as many. When the cache itself cannot be reached, calls go through (the
    LLM call has its own timeout) rather than failing every answer.
    """

    def __init__(
        self,
        key: str = "default",
        *,
        failures: int = 3,
        reset_after_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        cache: BaseCache | None = None,
    ) -> None:
        self.failures = failures
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._cache = cache if cache is not None else caches["default"]
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        self._count_key = f"tessera:llm-breaker:{digest}:failures"
        self._opened_key = f"tessera:llm-breaker:{digest}:opened"
        self._trial_key = f"tessera:llm-breaker:{digest}:trial"
        _KEYS.update((self._count_key, self._opened_key, self._trial_key))

    def allow(self) -> bool:
        try:
            opened = self._cache.get(self._opened_key)
            if opened is None:
                return True
            now = self._clock()
            if now - float(opened) < self.reset_after_s:
                return False
            # half-open: the one process that takes the trial slot tries; the rest wait again
            if not self._cache.add(self._trial_key, now, timeout=max(1, int(self.reset_after_s))):
                return False
            self._cache.set(self._opened_key, now, timeout=STATE_TTL_S)
            return True
        except Exception as exc:  # the cache is down: no breaker, the call's own timeout bounds it
            logger.warning("circuit breaker state unreadable (%s): the call goes through", type(exc).__name__)
            return True

    def success(self) -> None:
        try:
            self._cache.delete_many([self._count_key, self._opened_key, self._trial_key])
        except Exception as exc:
            logger.warning("circuit breaker state not cleared (%s)", type(exc).__name__)

    def failure(self) -> None:
        try:
            self._cache.add(self._count_key, 0, timeout=STATE_TTL_S)
            count = self._cache.incr(self._count_key)
            if count >= self.failures:
                self._cache.set(self._opened_key, self._clock(), timeout=STATE_TTL_S)
                self._cache.delete(self._trial_key)
        except Exception as exc:
            logger.warning("circuit breaker failure not counted (%s)", type(exc).__name__)

    @property
    def is_open(self) -> bool:
        try:
            return self._cache.get(self._opened_key) is not None
        except Exception:
            return False


# How long a breaker's state outlives its last change (an idle endpoint starts afresh after a day).
STATE_TTL_S = 24 * 3600
_KEYS: set[str] = set()  # every breaker key this process made (reset_breakers clears them)
_BREAKERS: dict[str, CircuitBreaker] = {}
_BREAKERS_LOCK = threading.Lock()


def breaker_for(config: LlmConfig) -> CircuitBreaker:
    """The breaker of ``config``'s provider endpoint and model, shared by every process."""
    with _BREAKERS_LOCK:
        return _BREAKERS.setdefault(config.breaker_key, CircuitBreaker(config.breaker_key))


def reset_breakers() -> None:
    """Forget every breaker's state (tests)."""
    with _BREAKERS_LOCK:
        _BREAKERS.clear()
        caches["default"].delete_many(sorted(_KEYS))


def estimated_cost(
    model: str, prompt_tokens: int, completion_tokens: int, prices: dict[str, list[float]]
) -> float:
    """Dollars for one call from the price table (per million tokens: [prompt, completion]); 0 if unpriced."""
    prompt_price, completion_price = prices.get(model, [0.0, 0.0])
    return (prompt_tokens * prompt_price + completion_tokens * completion_price) / 1_000_000
