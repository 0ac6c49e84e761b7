"""Failed API-key authentications, counted per client address in the shared cache.

Guessing keys must cost the guesser, not the server: after ``API_KEY_FAILURE_LIMIT`` failures from
one address within a window of ``API_KEY_FAILURE_WINDOW_S`` seconds, every request from that address
that presents a key is refused (429 with ``Retry-After``) before the key is even looked up, until the
window ends. The counts live in the default cache (Redis in production), so the limit holds across
every web process; a fixed window keeps each check to one cache read.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

CACHE_PREFIX = "tessera:api-key-failures"


def _window() -> tuple[int, str, float]:
    """(window length, this window's id, seconds until it ends)."""
    length = max(1, int(settings.TESSERA["API_KEY_FAILURE_WINDOW_S"]))
    now = time.time()
    bucket = int(now // length)
    return length, str(bucket), (bucket + 1) * length - now


def _key(ip: str, bucket: str) -> str:
    return f"{CACHE_PREFIX}:{bucket}:{ip}"


def api_key_failures_wait(*, ip: str) -> int | None:
    """Seconds ``ip`` must wait before presenting a key again, or None if it may now."""
    _, bucket, remaining = _window()
    failures = cache.get(_key(ip, bucket), 0)
    if failures < int(settings.TESSERA["API_KEY_FAILURE_LIMIT"]):
        return None
    return max(1, math.ceil(remaining))


def api_key_failure_record(*, ip: str) -> int:
    """Count one failed authentication from ``ip``; returns the failures in this window."""
    length, bucket, _ = _window()
    key = _key(ip, bucket)
    cache.add(key, 0, timeout=length + 1)
    try:
        failures = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=length + 1)
        failures = 1
    if failures == int(settings.TESSERA["API_KEY_FAILURE_LIMIT"]):
        logger.warning("api key failures from ip=%s reached %s: throttled for the window", ip, failures)
    return failures
