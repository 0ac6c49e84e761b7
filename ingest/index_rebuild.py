"""A tenant's vector index rebuilt in the background when its size calls for another kind (exact or
IVF): the Celery task, and the rule that queues it after a flush or a removal. Its own module so
that the pipeline can queue it without importing the other tasks, which import the pipeline."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from config.engines import index_store
from config.outbox import outbox_add
from config.task_retry import TRANSIENT
from retrieval.vector_index import VectorIndex

logger = logging.getLogger(__name__)


def schedule_vector_rebuild(tenant_id: int, vectors: VectorIndex) -> bool:
    """Queue a background rebuild of the tenant's vector index when it has outgrown its kind
    (exact past the threshold, an IVF grown 4x since training, or shrunk back). Returns whether
    one was queued. Queued after commit; the task itself re-checks, and skips if one is running."""
    spec = index_store(tenant_id).policy.rebuild_needed(vectors)
    if spec is None:
        return False
    logger.info(
        "vector index rebuild queued tenant=%s chunks=%s as=%s", tenant_id, len(vectors), spec.describe()
    )
    outbox_add("ingest.rebuild_vector_index", tenant_id)
    return True


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
