"""Rebuild a tenant's FAISS and BM25 indexes from the stored vectors, without re-embedding.

The vector index is exact or approximate (IVF) by the tenant's size, as `IndexPolicy` says.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F

from governance.models import Tenant
from ingest.engines import get_embedder, index_store
from ingest.models import Chunk, VersionStatus
from ingest.pipeline import vectors_of


class Command(BaseCommand):
    help = "Rebuild a tenant's indexes from stored vectors (no embedding)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        started = time.perf_counter()
        chunks = list(
            Chunk.objects.filter(
                tenant=tenant,
                version__status=VersionStatus.READY,
                version__document__current_version=F("version"),
            )
            .select_related("version__document")
            .order_by("pk")
        )
        model_id = get_embedder().model_id
        stale = [c.pk for c in chunks if c.vector is None or c.embedding_model != model_id]
        if stale:
            raise CommandError(
                f"{len(stale)} chunks have no vector from the current model ({model_id}); "
                "re-index their documents instead."
            )
        ids = np.array([c.pk for c in chunks], dtype=np.int64)
        vectors = vectors_of(chunks) if chunks else np.zeros((0, get_embedder().dimension), dtype=np.float32)
        store = index_store(tenant.pk)
        version = store.rebuild(ids, vectors, [c.keyword_text() for c in chunks])
        self.stdout.write(
            f"Rebuilt the indexes of '{tenant.slug}': {len(chunks)} chunks, index version {version}, "
            f"vectors {store.policy.choose(len(chunks)).describe()}, "
            f"{time.perf_counter() - started:.1f}s, nothing re-embedded."
        )
