"""The ingestion pipeline in-process: formats, idempotence, versions, deletion, scopes, rebuild."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.management import call_command

from config.engines import get_embedder, index_store
from governance.access import principal_for_membership
from governance.models import Membership, Role
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest import flush, pipeline, services
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus
from ingest.selectors import chunks_visible_to
from ingest.services import Upload
from ingest.tests.builders import HANDBOOK, ingest_now, make_docx, make_pdf
from ingest.vectors import vectors_of
from retrieval.late_interaction import unpack_tokens

pytestmark = pytest.mark.django_db

_ingest = ingest_now


def _search_ids(tenant, text, k=5):
    query = get_embedder().embed_query(text)
    _, ids = index_store(tenant.pk).read().vectors.search(query, k)
    return [int(i) for i in ids[0] if i != -1]


def _admin(tenant):
    return principal_for_membership(MembershipFactory(tenant=tenant, role=Role.ADMIN))


def test_markdown_is_chunked_with_headings_and_indexed():
    tenant = TenantFactory()
    version = _ingest(tenant, "handbook.md", HANDBOOK.encode())
    assert version.status == VersionStatus.READY and version.kind == "markdown"
    chunks = list(version.chunks.order_by("ordinal"))
    assert [c.heading_path for c in chunks] == [
        ["Employee handbook", "Parental leave"],
        ["Employee handbook", "Expenses"],
    ]
    assert all(c.vector is not None and c.token_count <= get_embedder().max_tokens for c in chunks)
    document = Document.objects.get(pk=version.document_id)
    assert document.current_version_id == version.pk and document.title == "Employee handbook"
    text = "".join(c.text for c in chunks)
    assert "sixteen weeks" in text
    hits = _search_ids(tenant, HANDBOOK.splitlines()[4])
    assert hits[0] == chunks[0].pk
    assert len(index_store(tenant.pk).read().vectors) == 2
    assert len(index_store(tenant.pk).read().bm25) == 2


def test_pdf_pages_and_docx_headings_reach_the_chunks():
    tenant = TenantFactory()
    pdf = _ingest(
        tenant, "policy.pdf", make_pdf([["Travel policy page one."], ["Second page about trains."]])
    )
    assert [c.page for c in pdf.chunks.order_by("ordinal")] == [1, 2]
    docx = _ingest(tenant, "guide.docx", make_docx())
    assert any(c.heading_path for c in docx.chunks.all())


def test_running_twice_gives_the_same_chunks_and_index():
    tenant = TenantFactory()
    version = _ingest(tenant, "handbook.md", HANDBOOK.encode())
    ids_before = list(version.chunks.values_list("id", "content_hash"))
    DocumentVersion.objects.filter(pk=version.pk).update(status=VersionStatus.EMBEDDING)  # as if killed
    assert pipeline.index_version_or_fail(version.pk) == VersionStatus.READY
    assert list(version.chunks.values_list("id", "content_hash")) == ids_before
    assert len(index_store(tenant.pk).read().vectors) == len(ids_before)


def test_identical_text_is_not_embedded_twice(monkeypatch):
    tenant = TenantFactory()
    _ingest(tenant, "a.md", HANDBOOK.encode())
    calls = []
    original = type(get_embedder()).embed_documents
    monkeypatch.setattr(
        type(get_embedder()),
        "embed_documents",
        lambda self, texts, *a, **k: calls.append(len(texts)) or original(self, texts, *a, **k),
    )
    version = _ingest(tenant, "copy-of-a.md", HANDBOOK.encode() + b"\n")  # same chunks, other bytes
    assert version.chunk_count == 2 and calls == []


def test_the_ready_version_stays_searchable_until_its_successor_is_ready_then_leaves_with_its_vectors():
    tenant = TenantFactory()
    principal = _admin(tenant)
    first = _ingest(tenant, "handbook.md", HANDBOOK.encode())
    old_ids = set(first.chunks.values_list("id", flat=True))
    assert set(chunks_visible_to(principal).values_list("id", flat=True)) == old_ids
    second = services.document_upload(
        tenant=tenant,
        actor=Actor(),
        upload=Upload("h.md", b"# New\n\nOnly this."),
        document=first.document,
        enqueue=False,
    )
    # while the new version waits for a worker, the document still answers from the old one
    assert set(chunks_visible_to(principal).values_list("id", flat=True)) == old_ids
    assert DocumentVersion.objects.get(pk=first.pk).status == VersionStatus.READY
    assert set(_search_ids(tenant, "parental leave", k=10)) & old_ids
    pipeline.index_version_or_fail(second.pk)
    assert DocumentVersion.objects.get(pk=first.pk).status == VersionStatus.SUPERSEDED
    assert Document.objects.get(pk=first.document_id).current_version_id == second.pk
    visible = set(chunks_visible_to(principal).values_list("id", flat=True))
    assert visible == set(second.chunks.values_list("id", flat=True))
    assert not Chunk.objects.filter(pk__in=old_ids).exists()
    in_index = set(_search_ids(tenant, "parental leave", k=10))
    assert in_index == visible


def test_a_new_version_that_fails_in_the_worker_leaves_the_ready_one_searchable():
    """The rule for a failed successor (issue 22): the document keeps answering from its ready
    version, in the database and in the indexes alike, and the failure is on the new version."""
    tenant = TenantFactory()
    principal = _admin(tenant)
    first = _ingest(tenant, "handbook.md", HANDBOOK.encode())
    old_ids = set(first.chunks.values_list("id", flat=True))
    second = services.document_upload(
        tenant=tenant,
        actor=Actor(),
        upload=Upload("h.md", b"   \n\n   \n"),  # accepted at upload, no text for the worker
        document=first.document,
        enqueue=False,
    )
    assert pipeline.index_version_or_fail(second.pk) == VersionStatus.FAILED
    second.refresh_from_db()
    assert second.error_code == "no_text"
    assert DocumentVersion.objects.get(pk=first.pk).status == VersionStatus.READY
    assert Document.objects.get(pk=first.document_id).current_version_id == first.pk
    assert set(chunks_visible_to(principal).values_list("id", flat=True)) == old_ids
    assert set(_search_ids(tenant, "parental leave", k=10)) <= old_ids
    assert set(_search_ids(tenant, "parental leave", k=10))
    indexes = index_store(tenant.pk).read()
    assert sorted(indexes.vectors.ids().tolist()) == sorted(old_ids) == sorted(indexes.bm25.ids().tolist())


def test_delete_removes_chunks_vectors_and_file(django_capture_on_commit_callbacks, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        tenant = TenantFactory()
        version = _ingest(tenant, "handbook.md", HANDBOOK.encode())
        _ingest(tenant, "other.md", b"# Other\n\nSomething else entirely.")  # a later snapshot
        path = version.file.path
        chunk_ids = set(version.chunks.values_list("id", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            deletion = services.document_delete(document=version.document, actor=Actor(label="admin"))
    finally:
        app.conf.task_always_eager = False
    assert not Chunk.objects.filter(tenant=tenant, pk__in=chunk_ids).exists()
    store = index_store(tenant.pk)
    assert not chunk_ids & set(store.read().vectors.ids().tolist())
    assert not chunk_ids & set(store.read().bm25.ids().tolist())
    # no older snapshot keeps the deleted vectors or terms either: only the live version is left
    snapshots = [p.name for p in store.directory.iterdir() if p.name.startswith("v")]
    assert snapshots == [f"v{store.current_version():010d}"]
    assert not __import__("os").path.exists(path)
    deletion.refresh_from_db()
    assert (deletion.document_id, deletion.chunks, deletion.files) == (version.document_id, len(chunk_ids), 1)
    assert deletion.indexes_cleared_at and deletion.files_removed_at
    assert deletion.completed_at >= deletion.requested_at


def test_tenants_and_groups_scope_the_visible_chunks():
    acme, globex = TenantFactory(), TenantFactory()
    restricted_group = AccessGroupFactory(tenant=acme)
    open_doc = _ingest(acme, "open.md", b"# Open\n\nCafeteria opens at eight.")
    secret = _ingest(
        acme, "secret.md", b"# Board\n\nMerger talks with Initech.", access_groups=[restricted_group]
    )
    _ingest(globex, "globex.md", b"# Globex\n\nGlobex's own handbook.")
    member = MembershipFactory(tenant=acme, role=Role.MEMBER)
    insider = MembershipFactory(tenant=acme, role=Role.MEMBER)
    restricted_group.members.add(insider)
    seen = {
        m: set(chunks_visible_to(principal_for_membership(m)).values_list("version_id", flat=True))
        for m in (member, insider)
    }
    assert seen[member] == {open_doc.pk}
    assert seen[insider] == {open_doc.pk, secret.pk}

    # one group's documents only (a tenant intent's collection): narrows, never widens
    def within(m, group):
        return set(
            chunks_visible_to(principal_for_membership(m), access_group_id=group.pk).values_list(
                "version_id", flat=True
            )
        )

    assert within(insider, restricted_group) == {secret.pk}
    assert within(member, restricted_group) == set()
    assert within(insider, AccessGroupFactory(tenant=globex)) == set()
    admin = MembershipFactory(tenant=acme, role=Role.ADMIN)
    assert within(admin, restricted_group) == {secret.pk}
    outsider = principal_for_membership(MembershipFactory(tenant=globex, role=Role.OWNER))
    assert not chunks_visible_to(outsider).filter(tenant=acme).exists()
    assert set(_search_ids(globex, "merger", k=10)).isdisjoint(secret.chunks.values_list("id", flat=True))
    assert Membership.objects.count() == 4


def test_rebuild_index_from_stored_vectors(monkeypatch):
    tenant = TenantFactory()
    version = _ingest(tenant, "handbook.md", HANDBOOK.encode())
    before = _search_ids(tenant, "receipts")
    monkeypatch.setattr(
        type(get_embedder()), "embed_documents", lambda *a, **k: pytest.fail("rebuild must not embed")
    )
    call_command("rebuild_index", tenant=tenant.slug)
    assert _search_ids(tenant, "receipts") == before
    assert len(index_store(tenant.pk).read().vectors) == version.chunk_count


def test_chunks_never_exceed_the_model_window():
    tenant = TenantFactory()
    long_text = ("Policy clause about reimbursement and travel approvals. " * 400).encode()
    version = _ingest(tenant, "long.txt", long_text)
    embedder = get_embedder()
    assert version.chunk_count > 5
    assert max(version.chunks.values_list("token_count", flat=True)) <= embedder.max_tokens - 2
    vectors = vectors_of(list(version.chunks.all()))
    assert vectors.shape == (version.chunk_count, embedder.dimension) and np.isfinite(vectors).all()


def test_crash_between_index_commit_and_ready_is_repaired_by_the_next_flush(monkeypatch):
    tenant = TenantFactory()
    version = services.document_upload(
        tenant=tenant, actor=Actor(), upload=Upload("h.md", HANDBOOK.encode()), enqueue=False
    )

    def crash(*args, **kwargs):
        raise OSError("worker died")

    monkeypatch.setattr(flush, "_mark_ready", crash)
    with pytest.raises(OSError, match="worker died"):
        pipeline.index_versions([version.pk])
    version.refresh_from_db()
    assert version.status == VersionStatus.INDEXING  # never "ready" without its vectors in the index
    assert len(index_store(tenant.pk).read().vectors) == 2
    monkeypatch.undo()
    assert flush.flush_tenant(tenant.pk) == 1
    version.refresh_from_db()
    assert version.status == VersionStatus.READY
    assert len(index_store(tenant.pk).read().vectors) == 2  # replaced, not duplicated
    assert flush.flush_tenant(tenant.pk) == 0  # nothing pending: no index write


def test_a_version_superseded_while_it_is_chunked_writes_nothing_and_the_batch_goes_on(monkeypatch):
    tenant = TenantFactory()
    uploads = [
        services.document_upload(
            tenant=tenant, actor=Actor(label="t"), upload=Upload(name, data.encode()), enqueue=False
        )
        for name, data in (("a.md", HANDBOOK), ("b.md", "# Other\n\nThe canteen opens at eight."))
    ]
    doomed, kept = uploads
    chunk = pipeline._chunk

    def chunk_then_supersede(parsed):
        specs = chunk(parsed)
        if parsed.title == "Employee handbook":  # a newer version of it arrives meanwhile
            DocumentVersion.objects.filter(pk=doomed.pk).update(status=VersionStatus.SUPERSEDED)
        return specs

    monkeypatch.setattr(pipeline, "_chunk", chunk_then_supersede)
    statuses = pipeline.index_versions([doomed.pk, kept.pk])
    assert statuses == {doomed.pk: "gone", kept.pk: VersionStatus.READY}
    assert not Chunk.objects.filter(version=doomed).exists()
    assert DocumentVersion.objects.get(pk=doomed.pk).status == VersionStatus.SUPERSEDED
    kept.refresh_from_db()
    assert kept.chunk_count == kept.chunks.count() == 1 and kept.timings["chunk"] > 0
    assert len(index_store(tenant.pk).read().vectors) == 1


def test_a_version_deleted_while_it_is_embedded_ends_gone(monkeypatch):
    tenant = TenantFactory()
    version = services.document_upload(
        tenant=tenant, actor=Actor(label="t"), upload=Upload("a.md", HANDBOOK.encode()), enqueue=False
    )
    embed_all = pipeline._embed_all

    def embed_then_delete(prepared):
        embed_all(prepared)
        Document.objects.filter(pk=version.document_id).delete()

    monkeypatch.setattr(pipeline, "_embed_all", embed_then_delete)
    assert pipeline.index_version_or_fail(version.pk) == "gone"
    assert not Chunk.objects.filter(tenant=tenant).exists()


def test_token_vectors_are_stored_with_the_vectors_and_reused_by_content():
    tenant = TenantFactory()
    version = _ingest(tenant, "a.md", HANDBOOK.encode())
    chunks = list(version.chunks.all())
    dimension = get_embedder().dimension
    for chunk in chunks:
        assert chunk.token_vectors is not None
        tokens = unpack_tokens(bytes(chunk.token_vectors), dimension)
        assert tokens.shape[0] >= 1 and np.isfinite(tokens).all()
    copy = _ingest(tenant, "copy-of-a.md", HANDBOOK.encode() + b"\n")  # reused by content hash
    assert [bytes(c.token_vectors) for c in copy.chunks.all()] == [bytes(c.token_vectors) for c in chunks]
