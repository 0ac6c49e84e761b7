"""One limit on asks, whatever the way in: the browser chat, the REST API and the OpenAI-compatible
endpoint all store a question through ``questions.question_ask``, which charges it here first.

A fixed-window counter per principal (a user, or an API key) within its tenant, in the default
cache: Redis in production, where ``incr`` is atomic and the count holds across every web
process; a folder on the embedded default, whose ``incr`` is a read and a write (a few asks sent at
the very same moment may each be counted once where they should be counted together).
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

from config.errors import ApplicationError
from governance.access import Principal
from governance.services import Actor, audit_record

logger = logging.getLogger(__name__)

PERIODS = {1: "a second", 60: "a minute", 3600: "an hour", 86400: "a day"}


class AskRateLimited(ApplicationError):
    """Too many asks in the current window: each interface answers 429 with ``Retry-After``."""

    status = 429
    code = "rate_limited"

    def __init__(self, *, limit: int, window_s: int, retry_after: int):
        period = PERIODS.get(window_s, f"in {window_s} seconds")
        super().__init__(
            f"You have reached the limit of {limit} question{_s(limit)} {period}. "
            f"Try again in {_duration(retry_after)}.",
            extra={"retry_after": retry_after},
        )
        self.retry_after = retry_after


def ask_rate_charge(*, principal: Principal) -> None:
    """Count one ask by ``principal`` against ``TESSERA["ASK_RATE"]``; over the limit: log it,
    audit the first refusal of the window (one row, however many follow: the trail cannot be
    flooded) and raise :class:`AskRateLimited`. Refused asks count too (they end with the window)."""
    limit, window_s = settings.TESSERA["ASK_RATE"]
    now = time.time()
    window = int(now // window_s)
    ends_in = (window + 1) * window_s - now
    key = f"tessera:ask-rate:{principal.tenant_id}:{_who(principal)}:{window_s}:{window}"
    count = _incremented(key, ttl=math.ceil(ends_in) + 1)
    if count <= limit:
        return
    retry_after = max(1, math.ceil(ends_in))
    logger.info(
        "ask refused: rate limit tenant=%s principal=%s count=%s limit=%s/%ss",
        principal.tenant_id,
        _who(principal),
        count,
        limit,
        window_s,
    )
    if count == limit + 1:  # exactly one request of the window sees this count
        audit_record(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            action="question.rate_limited",
            extra={"limit": limit, "window_s": window_s, "retry_after": retry_after},
        )
    raise AskRateLimited(limit=limit, window_s=window_s, retry_after=retry_after)


def _duration(seconds: int) -> str:
    """``seconds`` as a person reads a wait: 55 seconds, 30 minutes, 3 hours (rounded up)."""
    if seconds < 120:
        return f"{seconds} second{_s(seconds)}"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def _who(principal: Principal) -> str:
    return f"key:{principal.api_key_id}" if principal.api_key_id else f"user:{principal.user_id}"


def _incremented(key: str, *, ttl: int) -> int:
    """The counter at ``key`` after adding one (created for ``ttl`` seconds if missing)."""
    if cache.add(key, 1, timeout=ttl):
        return 1
    try:
        count = int(cache.incr(key))
    except ValueError:  # it expired between add and incr: this ask starts a new count
        cache.set(key, 1, timeout=ttl)
        return 1
    # The file cache's incr writes the value back with the default timeout; the window's end stays.
    cache.touch(key, timeout=ttl)
    return count
