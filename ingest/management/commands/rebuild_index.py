"""Rebuild a tenant's FAISS and BM25 indexes from the stored vectors, without re-embedding.

The vector index is exact or approximate (IVF) by the tenant's size, as `IndexPolicy` says.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import F, Q

from config.engines import get_embedder, index_store
from governance.models import Tenant
from ingest.models import Chunk, VersionStatus
from ingest.vectors import index_rows


class Command(BaseCommand):
    help = "Rebuild a tenant's indexes from stored vectors (no embedding)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="the tenant's slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"No tenant with slug '{options['tenant']}'.")
        started = time.perf_counter()
        chunks = Chunk.objects.filter(
            tenant=tenant,
            version__status=VersionStatus.READY,
            version__document__current_version=F("version"),
        )
        model_id = get_embedder().model_id
        stale = chunks.filter(Q(vector=None) | ~Q(embedding_model=model_id)).count()
        if stale:
            raise CommandError(
                f"{stale} chunks have no vector from the current model ({model_id}); "
                "re-index their documents instead."
            )
        rows = index_rows(chunks, dimension=get_embedder().dimension)
        store = index_store(tenant.pk)
        version = store.rebuild(rows.ids, rows.vectors, rows.texts)
        self.stdout.write(
            f"Rebuilt the indexes of '{tenant.slug}': {rows.ids.size} chunks, index version {version}, "
            f"vectors {store.policy.choose(rows.ids.size).describe()}, "
            f"{time.perf_counter() - started:.1f}s, nothing re-embedded."
        )
