"""The index that grows, through ingestion: a tenant crossing the threshold is rebuilt as an IVF by
a background task, search stays right and scoped, and `rebuild_index` builds the kind the size calls for."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from config.engines import index_store
from governance.access import principal_for_membership
from governance.models import Role
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest.models import Chunk
from ingest.selectors import chunks_visible_to
from ingest.tests.test_pipeline import _ingest
from ingest.vectors import vectors_of
from retrieval.ivf_index import IvfVectorIndex
from retrieval.vector_index import FaissVectorIndex

pytestmark = pytest.mark.django_db

THRESHOLD = 8


def clauses(topic: str, n: int = 300) -> bytes:
    """A text of distinct sentences, long enough for a dozen chunks (the fake embedder hashes text)."""
    return " ".join(f"Clause {i} on {topic} sets rule {i * 7919 % 1009}." for i in range(n)).encode()


@pytest.fixture
def small_threshold(settings):
    settings.TESSERA = {**settings.TESSERA, "ANN_THRESHOLD": THRESHOLD}
    index_store.cache_clear()
    yield
    index_store.cache_clear()


@pytest.fixture
def eager_tasks(settings):
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def own_top_hits(tenant, chunk_ids, allowed):
    """How many chunks find themselves first when searched with their own stored vector."""
    chunks = list(Chunk.objects.filter(pk__in=chunk_ids).order_by("pk"))
    _, found = index_store(tenant.pk).read().vectors.search(vectors_of(chunks), 1, allowed)
    return int((found[:, 0] == np.array([c.pk for c in chunks])).sum())


def test_crossing_the_threshold_queues_a_rebuild_that_switches_to_ivf(
    small_threshold, eager_tasks, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        version = _ingest(tenant, "rules.txt", clauses("travel"))
    assert version.chunk_count >= THRESHOLD and len(callbacks) == 1
    vectors = index_store(tenant.pk).read().vectors
    assert isinstance(vectors, IvfVectorIndex) and vectors.trained_on == version.chunk_count
    chunk_ids = list(version.chunks.values_list("pk", flat=True))
    assert sorted(vectors.ids().tolist()) == sorted(chunk_ids)
    assert own_top_hits(tenant, chunk_ids, np.array(chunk_ids)) == len(chunk_ids)


def test_after_the_switch_search_stays_scoped_and_flushes_just_add(
    small_threshold, eager_tasks, django_capture_on_commit_callbacks
):
    tenant = TenantFactory()
    board = AccessGroupFactory(tenant=tenant)
    with django_capture_on_commit_callbacks(execute=True):
        public = _ingest(tenant, "rules.txt", clauses("travel"))
    secret = _ingest(tenant, "board.txt", clauses("mergers", 100), access_groups=[board])
    vectors = index_store(tenant.pk).read().vectors
    assert isinstance(vectors, IvfVectorIndex) and vectors.trained_on == public.chunk_count  # no retrain
    assert len(vectors) == public.chunk_count + secret.chunk_count
    member = principal_for_membership(MembershipFactory(tenant=tenant, role=Role.MEMBER))
    visible = np.array(chunks_visible_to(member).values_list("id", flat=True), dtype=np.int64)
    assert set(visible.tolist()) == set(public.chunks.values_list("pk", flat=True))
    secret_ids = list(secret.chunks.values_list("pk", flat=True))
    _, found = vectors.search(vectors_of(list(secret.chunks.all())), 1000, visible)
    assert set(found[found >= 0].tolist()) == set(visible.tolist())  # all it may see, nothing else
    assert own_top_hits(tenant, secret_ids, None) == len(secret_ids)


def test_rebuild_index_builds_the_kind_the_size_calls_for(small_threshold, settings, capsys):
    tenant = TenantFactory()
    version = _ingest(tenant, "rules.txt", clauses("travel"))
    assert isinstance(index_store(tenant.pk).read().vectors, FaissVectorIndex)  # no task ran
    call_command("rebuild_index", tenant=tenant.slug)
    assert isinstance(index_store(tenant.pk).read().vectors, IvfVectorIndex)
    assert "IVF" in capsys.readouterr().out
    settings.TESSERA = {**settings.TESSERA, "ANN_THRESHOLD": 10_000}
    index_store.cache_clear()
    call_command("rebuild_index", tenant=tenant.slug)
    vectors = index_store(tenant.pk).read().vectors
    assert isinstance(vectors, FaissVectorIndex) and len(vectors) == version.chunk_count
