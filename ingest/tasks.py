"""Celery tasks of ingestion: thin wrappers that take ids and call the pipeline."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from celery import shared_task
from django.core.files.storage import default_storage

from config.engines import index_store, indexes_remove
from config.task_retry import TRANSIENT, run_or_fail
from ingest import pipeline
from ingest.index_rebuild import rebuild_vector_index_task, schedule_vector_rebuild
from ingest.models import DocumentVersion
from ingest.services import deletion_progress

__all__ = ["index_version_task", "rebuild_vector_index_task", "remove_chunks_task"]  # found by Celery

logger = logging.getLogger(__name__)

MAX_RETRIES = 5


@shared_task(bind=True, name="ingest.index_version", acks_late=True, max_retries=MAX_RETRIES)
def index_version_task(self: Any, version_id: int) -> str:
    """Index one document version; permanent errors are stored on it, transient ones retried."""
    return run_or_fail(
        self,
        lambda: pipeline.index_version_or_fail(version_id),
        lambda reason: pipeline.version_fail(version_id, "internal", reason),
        action="Indexing",
        ref=f"version={version_id}",
        crashed="Indexing failed because of an internal error; an operator can retry it.",
    )


@shared_task(name="ingest.remove_chunks", acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True)
def remove_chunks_task(
    tenant_id: int, chunk_ids: list[int], files: list[str], deletion_id: int | None = None
) -> int:
    """Remove deleted chunks from the tenant's indexes, older snapshots included, then the deleted
    originals from disk, and record each step on the deletion. Idempotent: run twice, it finds
    nothing more to remove."""
    if chunk_ids:
        store = index_store(tenant_id)
        with store.write() as state:
            indexes_remove(state, np.array(chunk_ids, dtype=np.int64))
        store.history_drop()  # the previous snapshots still hold the removed vectors and terms
        schedule_vector_rebuild(tenant_id, state.vectors)
    deletion_progress(deletion_id=deletion_id, indexes=True)
    for name in files:
        if not DocumentVersion.objects.filter(file=name).exists():  # the same bytes may live on elsewhere
            default_storage.delete(name)
    deletion_progress(deletion_id=deletion_id, files=True)
    return len(chunk_ids)
