"""Tasks that must run after a commit, sent even when the broker is away: a transactional outbox.

    outbox_add(task, *args)  in the caller's transaction: one ``OutboxTask`` row; once the
                             transaction commits, one quick try to send it (bounded by the broker
                             timeouts of ``config.broker``); a failure leaves the row pending
    outbox_sweep()           the sweeper, run by Celery beat (``CELERY_BEAT_SCHEDULE``; ``manage.py
                             serve`` starts beat inside its worker): sends what is pending, with
                             backoff, for as long as the broker is away; sends again what no worker
                             finished within ``RESEND_AFTER_S`` (a message lost with a broker)
    task_postrun             marks a row done once a worker has finished its task

The task id names the row (``outbox-<row>-<try>``), so the worker's signal finds it. A row can be
sent twice (a send the broker took without confirming it, a resend), so every task sent through
the outbox is idempotent: indexing a version, removing chunks, rebuilding an index, training a
router all check the state they find.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from celery import Task
from django.db import transaction
from django.utils import timezone

from config.models import OutboxTask

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 300
# A sent task no worker finished is sent again after this long: beyond the broker's own redelivery
# of an unacknowledged task (its visibility timeout, an hour), so a slow task is not sent twice.
RESEND_AFTER_S = 2 * 3600
MAX_SENDS = 4  # then the row is given up (done, with the reason) and the error is logged
SWEEP_BATCH = 500
KEEP_DONE = timedelta(days=7)  # finished rows are kept this long (what ran, when), then deleted

_TASK_ID = re.compile(r"^outbox-(\d+)-\d+$")


def outbox_add(task: str, *args: Any) -> OutboxTask:
    """Queue ``task(*args)`` to be sent once the current transaction commits (at once, outside one).
    Nothing is sent if the transaction rolls back; nothing is lost if the broker is away."""
    row = OutboxTask.objects.create(task=task, args=list(args))
    pk = row.pk
    transaction.on_commit(lambda: outbox_send(pk))
    return row


def outbox_send(pk: int) -> bool:
    """Try once to hand row ``pk`` to the broker; whether it took it. A broker that refuses or does
    not answer in time leaves the row pending, for the sweeper."""
    row = OutboxTask.objects.filter(pk=pk, done_at=None).first()
    return row is not None and _send(row)


def _task(name: str) -> Task[Any, Any]:
    """The registered task ``name`` (a web process imports the apps' task modules on first use)."""
    from config.celery import app

    if name not in app.tasks:
        app.loader.import_default_modules()  # Celery's autodiscovery of every app's tasks.py
    return app.tasks[name]


def _send(row: OutboxTask) -> bool:
    attempt = row.attempts + 1
    try:
        # One try (the sweeper is the retry), and no result to wait for: a Redis result backend
        # would otherwise subscribe for it and retry a lost connection for 20 s inside the request.
        _task(row.task).apply_async(
            args=row.args, task_id=f"outbox-{row.pk}-{attempt}", retry=False, ignore_result=True
        )
    except Exception as exc:  # a broker refusing, timing out, or gone: the row waits for the sweeper
        error = f"{type(exc).__name__}: {exc}"[:300]
        OutboxTask.objects.filter(pk=row.pk).update(
            attempts=attempt,
            last_error=error,
            next_attempt_at=timezone.now() + timedelta(seconds=min(MAX_BACKOFF_S, 2**attempt)),
        )
        logger.warning(
            "outbox send failed task=%s row=%s attempt=%s error=%s", row.task, row.pk, attempt, error
        )
        return False
    now = timezone.now()
    OutboxTask.objects.filter(pk=row.pk).update(
        attempts=attempt,
        sends=row.sends + 1,
        sent_at=now,
        last_error="",
        next_attempt_at=now + timedelta(seconds=RESEND_AFTER_S),
    )
    return True


def outbox_sweep(*, limit: int = SWEEP_BATCH) -> int:
    """Send every due row: pending ones (the broker was away) and sent ones no worker finished in
    ``RESEND_AFTER_S``; give up a row sent ``MAX_SENDS`` times; delete rows finished more than
    ``KEEP_DONE`` ago. Returns how many were sent."""
    OutboxTask.objects.filter(done_at__lt=timezone.now() - KEEP_DONE).delete()
    due = list(
        OutboxTask.objects.filter(done_at=None, next_attempt_at__lte=timezone.now()).order_by(
            "next_attempt_at"
        )[:limit]
    )
    sent = 0
    for row in due:
        if row.sends >= MAX_SENDS:
            OutboxTask.objects.filter(pk=row.pk).update(
                done_at=timezone.now(), last_error=f"given up: sent {row.sends} times, never finished"
            )
            logger.error("outbox task given up task=%s args=%s row=%s", row.task, row.args, row.pk)
            continue
        if row.sent_at is not None:
            logger.warning("outbox task sent again task=%s row=%s (no worker finished it)", row.task, row.pk)
        sent += _send(row)
    return sent


def outbox_done(task_id: str | None) -> None:
    """Mark the row a finished task came from (if it came from one) done."""
    match = _TASK_ID.match(task_id or "")
    if match:
        OutboxTask.objects.filter(pk=int(match.group(1)), done_at=None).update(done_at=timezone.now())
