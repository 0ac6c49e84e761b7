"""The checks on ``settings.TESSERA``, Tessera's own knobs, read from the environment by
``config.settings``: a value that makes no sense stops the start with a message naming the variable,
rather than surfacing later as a wrong answer or a 500."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from assistant.answering.llm.connections import ConnectionConfigError, llm_connections


def parsed_rate(name: str, value: str) -> tuple[int, int]:
    """A rate written as DRF writes them ("20/minute"; second, minute, hour or day) as
    (count, window in seconds); anything else stops the start with a clear message."""
    count, _, period = value.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(period.strip()[:1].lower())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise ImproperlyConfigured(
            f"{name} must be a count per second, minute, hour or day, such as 20/minute, not {value!r}."
        )
    return int(count), seconds


def knobs_check(tessera: dict[str, Any]) -> None:
    """Raise ImproperlyConfigured, naming the environment variable, for the first knob out of range."""
    try:
        llm_connections(tessera, local_models=())
    except ConnectionConfigError as exc:
        raise ImproperlyConfigured(str(exc)) from exc
    prices = tessera["LLM_PRICES"]
    if not isinstance(prices, dict) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, int | float) for x in p)
        for p in prices.values()
    ):
        raise ImproperlyConfigured(
            'TESSERA_LLM_PRICES must be a JSON object {"model": [prompt, completion]}, '
            "in dollars per million tokens."
        )
    threshold = tessera["ANSWERABILITY_THRESHOLD"]
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ImproperlyConfigured(
            f"TESSERA_ANSWERABILITY_THRESHOLD must be a probability between 0 and 1, not {threshold}."
        )
    if not 0.85 <= tessera["ANSWER_CACHE_THRESHOLD"] <= 1.0:  # as AssistantSettings.answer_cache_threshold
        raise ImproperlyConfigured(
            "TESSERA_ANSWER_CACHE_THRESHOLD must be between 0.85 and 1.0 (a cosine similarity), "
            f"not {tessera['ANSWER_CACHE_THRESHOLD']!r}."
        )
    for knob in ("ANSWER_CACHE_MAX_ENTRIES", "RERANK_CHUNKS", "EVIDENCE_TOKENS"):
        if tessera[knob] < 1:
            raise ImproperlyConfigured(f"TESSERA_{knob} must be at least 1.")
    if tessera["SEARCH_FUSION"] not in ("scores", "rrf"):  # a typo must not silently pick the other one
        raise ImproperlyConfigured(
            f"TESSERA_SEARCH_FUSION must be 'scores' or 'rrf', not {tessera['SEARCH_FUSION']!r}."
        )
