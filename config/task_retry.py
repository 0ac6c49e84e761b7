"""One retry rule for the Celery tasks that take a row through a job and mark it failed when the job
cannot succeed (a document version's indexing, a tenant router's training).

A transient error (the database or the disk may be back in a moment) is retried with exponential
backoff, 2, 4, 8 ... seconds, at most 5 minutes, up to the task's ``max_retries``; then the row is
failed with the reason. Any other error is a bug, not bad input: the row says so and the traceback
goes to the log. Either way the task ends, so a broken row never loops in the queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import DatabaseError

logger = logging.getLogger(__name__)

TRANSIENT = (DatabaseError, OSError, TimeoutError)
MAX_BACKOFF_S = 300


def backoff_s(retries: int) -> int:
    """Seconds before retry number ``retries + 1``."""
    return int(min(MAX_BACKOFF_S, 2 ** (retries + 1)))


def run_or_fail(
    task: Any,
    job: Callable[[], str],
    fail: Callable[[str], None],
    *,
    action: str,
    ref: str,
    crashed: str,
) -> str:
    """``job()`` inside the bound Celery ``task``: its result, or "failed" once ``fail(reason)`` has
    marked the row. ``action`` names the job in the row's reason and the log ("Indexing"), ``ref``
    the row in the log ("version=12"); ``crashed`` is the reason a bug leaves on the row."""
    try:
        return job()
    except TRANSIENT as exc:
        if task.request.retries >= task.max_retries:
            logger.exception("%s gave up %s", action.lower(), ref)
            fail(f"{action} failed after {task.max_retries} retries ({type(exc).__name__}).")
            return "failed"
        logger.warning("%s retry %s error=%s", action.lower(), ref, type(exc).__name__)
        raise task.retry(exc=exc, countdown=backoff_s(task.request.retries)) from exc
    except Exception:
        logger.exception("%s crashed %s", action.lower(), ref)
        fail(crashed)
        return "failed"
