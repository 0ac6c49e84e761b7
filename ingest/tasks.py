"""Celery tasks of ingestion: thin wrappers that take ids and call the pipeline."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from celery import shared_task
from django.core.files.storage import default_storage
from django.db import DatabaseError

from ingest import pipeline
from ingest.engines import index_store, indexes_remove
from ingest.models import DocumentVersion

logger = logging.getLogger(__name__)

MAX_RETRIES = 5
# Errors worth retrying: the database or the disk may be back in a moment.
TRANSIENT = (DatabaseError, OSError, TimeoutError)


@shared_task(bind=True, name="ingest.index_version", acks_late=True, max_retries=MAX_RETRIES)
def index_version_task(self: Any, version_id: int) -> str:
    """Index one document version; permanent errors are stored on it, transient ones retried."""
    try:
        return pipeline.index_version_or_fail(version_id)
    except TRANSIENT as exc:
        if self.request.retries >= MAX_RETRIES:
            pipeline.version_fail(
                version_id, "internal", f"Indexing failed after {MAX_RETRIES} retries ({type(exc).__name__})."
            )
            logger.exception("indexing gave up version=%s", version_id)
            return "failed"
        logger.warning("indexing retry version=%s error=%s", version_id, type(exc).__name__)
        raise self.retry(exc=exc, countdown=min(300, 2 ** (self.request.retries + 1))) from exc
    except Exception:
        # A bug, not bad input: say so on the document, keep the traceback in the log.
        logger.exception("indexing crashed version=%s", version_id)
        pipeline.version_fail(
            version_id, "internal", "Indexing failed because of an internal error; an operator can retry it."
        )
        return "failed"


@shared_task(name="ingest.remove_chunks", acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True)
def remove_chunks_task(tenant_id: int, chunk_ids: list[int], files: list[str]) -> int:
    """Remove deleted chunks from the tenant's indexes, then the deleted originals from disk."""
    if chunk_ids:
        with index_store(tenant_id).write() as state:
            indexes_remove(state, np.array(chunk_ids, dtype=np.int64))
        pipeline.schedule_vector_rebuild(tenant_id, state.vectors)
    for name in files:
        if not DocumentVersion.objects.filter(file=name).exists():  # the same bytes may live on elsewhere
            default_storage.delete(name)
    return len(chunk_ids)


@shared_task(name="ingest.rebuild_vector_index", acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True)
def rebuild_vector_index_task(tenant_id: int) -> int | None:
    """Rebuild the tenant's vector index as its size now calls for (exact or IVF), without holding
    up flushes; returns the new index version, or None when nothing was needed or one is running."""
    started = time.perf_counter()
    version = index_store(tenant_id).rebuild_vectors()
    logger.info(
        "vector index rebuild tenant=%s version=%s seconds=%.1f",
        tenant_id,
        version,
        time.perf_counter() - started,
    )
    return version
