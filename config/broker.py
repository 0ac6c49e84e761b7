"""Broker and result-backend configuration derived from one broker URL.

``filesystem://`` is the embedded default: kombu's filesystem transport under the data directory,
results as files beside it. Any other URL (``redis://``, ``amqp://``) is used as given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMBEDDED_BROKER_URL = "filesystem://localhost/"
BROKER_CONNECT_TIMEOUT_S = 2.0
BROKER_SOCKET_TIMEOUT_S = 5.0
# A Redis broker that does not answer (down, paused, a network partition) fails a send in seconds
# instead of holding a request: the outbox sends it later (config.outbox). Above the 1 s BRPOP the
# worker polls with, so an idle worker is never cut off. (AMQP: CELERY_BROKER_CONNECTION_TIMEOUT.)
_REDIS_TIMEOUTS = {
    "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S,
    "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
}


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    broker_url: str
    result_backend: str
    transport_options: dict[str, object]

    @property
    def embedded(self) -> bool:
        return self.broker_url.startswith("filesystem")


def broker_config(
    broker_url: str, data_dir: Path, result_backend: str | None = None, visibility_timeout: int = 3600
) -> BrokerConfig:
    """Resolve the transport options and result backend for ``broker_url``; make folders it needs."""
    if broker_url.startswith("filesystem"):
        queue, control, results = (
            data_dir / "broker" / "queue",
            data_dir / "broker" / "control",
            data_dir / "results",
        )
        for folder in (queue, control, results):
            folder.mkdir(parents=True, exist_ok=True)
        return BrokerConfig(
            broker_url=broker_url,
            result_backend=result_backend or f"file://{results}",
            transport_options={
                "data_folder_in": str(queue),
                "data_folder_out": str(queue),
                "control_folder": str(control),
                "store_processed": False,
            },
        )
    # Redis redelivers an unacknowledged task after ``visibility_timeout`` seconds (a worker killed
    # mid-task); it must exceed the longest task, or a slow task runs twice (harmless, but wasted).
    return BrokerConfig(
        broker_url=broker_url,
        result_backend=result_backend or broker_url,
        transport_options={
            "visibility_timeout": visibility_timeout,
            # Sweep for unacknowledged messages often enough for the timeout to mean what it says.
            "unacked_restore_interval": max(1, min(10, visibility_timeout // 4)),
            "unacked_restore_throttle": 1 if visibility_timeout < 60 else 10,
            **(_REDIS_TIMEOUTS if broker_url.startswith(("redis", "rediss")) else {}),
        },
    )


def cache_config(cache: dict[str, Any]) -> dict[str, Any]:
    """``cache`` (a Django CACHES entry) with bounded waits when it is Redis: a Redis that does not
    answer costs a request 2 s, not a hung thread (the rate limits and the LLM circuit breaker read
    the cache on every question; the breaker lets the call through when it cannot)."""
    if str(cache.get("BACKEND", "")).endswith("RedisCache"):
        options = {
            "socket_connect_timeout": BROKER_CONNECT_TIMEOUT_S,
            "socket_timeout": BROKER_CONNECT_TIMEOUT_S,
        }
        cache = {**cache, "OPTIONS": {**cache.get("OPTIONS", {}), **options}}
    return cache
