"""``GET /healthz``: database, broker and data directory, as JSON; 200 when all are up, else 503.

The checks run side by side, each in a thread of a small pool, and the answer comes within
``DEADLINE_S`` whatever they do: a check still running then (a paused broker, a database that
accepts connections and never replies) is reported down. A load balancer polling every few seconds
gets its answer before its own timeout, and a hung dependency never holds a web thread."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait

from django.conf import settings
from django.db import connection, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.celery import app as celery_app

logger = logging.getLogger(__name__)


DEADLINE_S = 0.9
# Threads for the checks: a hung check keeps its thread until its own timeout (the broker's socket
# timeout, the database's connect timeout); while the pool is full, later checks report down.
_POOL = ThreadPoolExecutor(max_workers=6, thread_name_prefix="healthz")


def _check_database() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connections.close_all()  # this pool thread's own connection


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


def _check_data_dir() -> None:
    data_dir = settings.DATA_DIR
    with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".healthz-", delete=True) as probe:
        probe.write(b"ok")
        probe.flush()
        os.fsync(probe.fileno())


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "broker": _check_broker,
    "data_dir": _check_data_dir,
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    futures: dict[str, Future[None]] = {name: _POOL.submit(check) for name, check in CHECKS.items()}
    futures_wait(futures.values(), timeout=DEADLINE_S)
    results: dict[str, dict[str, object]] = {}
    for name, future in futures.items():
        if not future.done():
            logger.warning("health check timed out check=%s after=%ss", name, DEADLINE_S)
            results[name] = {"ok": False, "error": f"no answer within {DEADLINE_S:g} s"}
        elif (exc := future.exception()) is not None:  # a boundary: any failure is reported
            logger.warning("health check failed check=%s error=%s", name, type(exc).__name__)
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"ok": True}
    healthy = all(r["ok"] for r in results.values())
    body = {
        "status": "ok" if healthy else "unavailable",
        "checks": results,
        "ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JsonResponse(body, status=200 if healthy else 503)
