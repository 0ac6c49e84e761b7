"""Celery tasks of the assistant: thin wrappers that take ids and call the services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from assistant.routing.training import intent_model_fail, intent_model_train_or_fail
from config.task_retry import run_or_fail

MAX_RETRIES = 3


@shared_task(bind=True, name="assistant.train_intent_model", acks_late=True, max_retries=MAX_RETRIES)
def train_intent_model_task(self: Any, version_id: int) -> str:
    """Train one version of a tenant's router; a training that cannot succeed is stored as failed."""
    return run_or_fail(
        self,
        lambda: intent_model_train_or_fail(version_id),
        lambda reason: intent_model_fail(version_id, reason),
        action="Training",
        ref=f"version={version_id}",
        crashed="Training failed because of an internal error; see the worker's log.",
    )
