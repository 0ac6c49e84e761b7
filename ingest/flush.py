"""The last step of indexing: a tenant's embedded versions written into its indexes in one locked
write, then made current, superseding the versions they replace (``ingest.pipeline`` calls it
after embedding; so do the benchmarks that ingest in bulk)."""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from config.engines import index_store, indexes_add, indexes_remove
from ingest.index_rebuild import schedule_vector_rebuild
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus
from ingest.signals import documents_changed
from ingest.vectors import index_rows

logger = logging.getLogger(__name__)


class _NothingToFlush(Exception):
    """Raised inside the write block to leave the index untouched (the store writes nothing)."""


def flush_tenant(tenant_id: int) -> int:
    """Add every embedded (INDEXING) version of the tenant to its indexes in ONE locked write,
    drop the vectors of the versions they replace, then mark them ready. Returns how many.

    Each worker calls this after embedding; whoever takes the lock first indexes the versions of
    the others too, so index writes batch themselves under load. Versions become ready only
    after the index snapshot is committed: a crash in between leaves them INDEXING, and the next
    flush adds them again (ids are replaced, so that is idempotent)."""
    if not DocumentVersion.objects.filter(tenant_id=tenant_id, status=VersionStatus.INDEXING).exists():
        return 0
    try:
        with index_store(tenant_id).write() as state:
            pending = list(DocumentVersion.objects.filter(tenant_id=tenant_id, status=VersionStatus.INDEXING))
            if not pending:
                raise _NothingToFlush  # another worker flushed them while this one waited
            rows = index_rows(Chunk.objects.filter(version__in=pending), dimension=state.vectors.dimension)
            stale = list(
                Chunk.objects.filter(version__document__in={v.document_id for v in pending})
                .exclude(version__in=pending)
                .values_list("id", flat=True)
            )
            if stale:
                indexes_remove(state, np.array(stale, dtype=np.int64))
            if rows.ids.size:
                indexes_add(state, rows.ids, rows.vectors, rows.texts)
    except _NothingToFlush:
        return 0
    _mark_ready(pending, stale)
    logger.info(
        "flushed tenant=%s versions=%s chunks=%s stale=%s", tenant_id, len(pending), rows.ids.size, len(stale)
    )
    schedule_vector_rebuild(tenant_id, state.vectors)
    return len(pending)


def _mark_ready(versions: list[DocumentVersion], stale_chunk_ids: list[int]) -> None:
    """Make the flushed versions current, and supersede the ready versions they replace (one
    tenant's versions); a version superseded meanwhile is left out of search."""
    now = timezone.now()
    with transaction.atomic():
        Chunk.objects.filter(pk__in=stale_chunk_ids).delete()
        indexing = DocumentVersion.objects.select_for_update().filter(
            pk__in=[v.pk for v in versions], status=VersionStatus.INDEXING
        )
        ready = dict(indexing.values_list("document_id", "pk"))
        # the versions these replace (kept searchable until now: services._supersede_older)
        replaced = DocumentVersion.objects.filter(document_id__in=list(ready), status=VersionStatus.READY)
        replaced_documents = sorted(set(replaced.values_list("document_id", flat=True)))
        replaced.update(status=VersionStatus.SUPERSEDED)
        DocumentVersion.objects.filter(pk__in=list(ready.values())).update(
            status=VersionStatus.READY, ready_at=now, progress_done=F("chunk_count")
        )
        for start in range(0, len(ready), 500):
            documents = list(ready)[start : start + 500]
            Document.objects.filter(pk__in=documents).update(
                current_version_id=Case(*(When(pk=d, then=Value(ready[d])) for d in documents)),
                updated_at=now,
            )
        if replaced_documents:  # answers cited the replaced text: the cache lets them go
            documents_changed.send(
                sender=Document,
                tenant_id=versions[0].tenant_id,
                document_ids=replaced_documents,
                reason="new_version",
            )
