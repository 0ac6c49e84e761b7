"""Celery tasks of the project itself: the outbox's sweeper, run by beat (``config.outbox``)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import task_postrun

from config.outbox import outbox_done, outbox_sweep

__all__ = ["outbox_sweep_task"]  # found by Celery


@shared_task(name="config.outbox_sweep", ignore_result=True)
def outbox_sweep_task() -> int:
    """Send what the outbox holds (pending, or never finished); see ``config.outbox``."""
    return outbox_sweep()


@task_postrun.connect
def _outbox_task_finished(task_id: str | None = None, state: str | None = None, **kwargs: Any) -> None:
    # Only a success is done: a retry will run again; a failure is sent again by the sweeper.
    if state == "SUCCESS":
        outbox_done(task_id)
