"""Celery tasks of the assistant: thin wrappers that take ids and call the services."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import DatabaseError

from assistant.tenant_intents import intent_model_fail, intent_model_train_or_fail

logger = logging.getLogger(__name__)

MAX_RETRIES = 3
# Errors worth retrying: the database or the disk may be back in a moment.
TRANSIENT = (DatabaseError, OSError, TimeoutError)


@shared_task(bind=True, name="assistant.train_intent_model", acks_late=True, max_retries=MAX_RETRIES)
def train_intent_model_task(self: Any, version_id: int) -> str:
    """Train one version of a tenant's router; a training that cannot succeed is stored as failed."""
    try:
        return intent_model_train_or_fail(version_id)
    except TRANSIENT as exc:
        if self.request.retries >= MAX_RETRIES:
            logger.exception("intent model training gave up version=%s", version_id)
            intent_model_fail(
                version_id, f"Training failed after {MAX_RETRIES} retries ({type(exc).__name__})."
            )
            return "failed"
        logger.warning("intent model training retry version=%s error=%s", version_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(300, 2 ** (self.request.retries + 1))) from exc
    except Exception:
        # A bug, not bad input: say so on the version, keep the traceback in the log.
        logger.exception("intent model training crashed version=%s", version_id)
        intent_model_fail(version_id, "Training failed because of an internal error; see the worker's log.")
        return "failed"
