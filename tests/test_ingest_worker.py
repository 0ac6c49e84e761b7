"""Ingestion through real Celery workers and the real embedder.

A worker on Redis is SIGKILLed in the middle of a document and another one finishes it: the
document ends ready, with no duplicate chunk and an index that matches the database. Two
documents indexed concurrently into one tenant both end searchable.
"""

from __future__ import annotations

import pytest
from django.db.models import Count, F

from config.engines import get_embedder, index_store
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest import services
from ingest.models import Chunk, DocumentVersion, VersionStatus
from ingest.services import Upload
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REAL = {"TESSERA_EMBEDDER": "auto"}


def _long_document(topic, paragraphs):
    text = "\n\n".join(
        f"Section {i} of the {topic} guide. Employees in team {i} must file form {i * 7} before the "
        f"deadline, keep receipts for {i % 12 + 1} months and ask their manager about exception {i}."
        for i in range(paragraphs)
    )
    return f"# {topic.title()} guide\n\n{text}".encode()


def _upload(tenant, name, data):
    return services.document_upload(
        tenant=tenant, actor=Actor(label="t"), upload=Upload(name, data), enqueue=False
    )


def _status(version):
    return DocumentVersion.objects.values_list("status", flat=True).get(pk=version.pk)


def _assert_consistent(tenant, version):
    version.refresh_from_db()
    assert version.status == VersionStatus.READY, version.error_message
    chunks = Chunk.objects.filter(version=version)
    assert chunks.count() == version.chunk_count > 0
    assert not chunks.values("ordinal").annotate(n=Count("id")).filter(n__gt=1).exists()
    searchable = set(
        Chunk.objects.filter(tenant=tenant, version__document__current_version=F("version")).values_list(
            "id", flat=True
        )
    )
    indexes = index_store(tenant.pk).read()
    assert len(indexes.vectors) == len(searchable) == len(indexes.bm25)
    for chunk_id in searchable:
        assert indexes.vectors.contains(chunk_id)


def test_worker_killed_mid_document_on_redis_recovers(celery_worker_factory, redis_url, real_embedder):
    tenant = TenantFactory()
    version = _upload(tenant, "handbook.md", _long_document("expenses", 1500))
    env = {**REAL, "CELERY_VISIBILITY_TIMEOUT": "4"}
    first = celery_worker_factory(redis_url, env)
    first.client.send_task("ingest.index_version", args=[version.pk])
    wait_for(lambda: _status(version) == VersionStatus.EMBEDDING, 120, "embedding to start")
    first.kill()
    assert _status(version) == VersionStatus.EMBEDDING  # killed half-way
    celery_worker_factory(redis_url, env)  # a new worker gets the unacknowledged task again
    wait_for(lambda: _status(version) == VersionStatus.READY, 240, "the redelivered task to finish")
    _assert_consistent(tenant, version)
    query = get_embedder().embed_query("form 70 deadline for team 10")
    _, ids = index_store(tenant.pk).read().vectors.search(query, 3)
    assert set(ids[0]) <= set(Chunk.objects.filter(version=version).values_list("id", flat=True))


def test_two_documents_concurrently_into_one_tenant(celery_worker_factory, settings):
    tenant = TenantFactory()
    versions = [_upload(tenant, f"{t}.md", _long_document(t, 120)) for t in ("travel", "security")]
    workers = [celery_worker_factory(settings.CELERY_BROKER_URL) for _ in range(2)]
    for worker, version in zip(workers, versions, strict=True):
        worker.client.send_task("ingest.index_version", args=[version.pk])
    wait_for(lambda: all(_status(v) == VersionStatus.READY for v in versions), 240, "both documents")
    for version in versions:
        _assert_consistent(tenant, version)
