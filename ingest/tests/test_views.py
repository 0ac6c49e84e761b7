"""Uploads through HTTP: every bad input is a clear 4xx with its reason stored; nothing else lost."""

from __future__ import annotations

import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.models import AuditEvent, Role
from governance.tests.factories import TenantFactory
from ingest.models import Document, DocumentVersion, VersionStatus
from ingest.tests.builders import add_zip_member, encrypt_pdf, make_docx, make_lying_docx, make_pdf

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN))
    client.tenant = tenant
    return client


def _upload(client, *files, url=None):
    payload = {"files": [SimpleUploadedFile(name, data) for name, data in files]}
    return client.post(url or reverse("ingest:documents"), payload)


def test_many_files_at_once_are_queued(admin_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _upload(
            admin_client,
            ("a.md", b"# A\n\nalpha"),
            ("b.txt", b"bravo text"),
            ("c.pdf", make_pdf([["charlie"]])),
        )
    assert response.status_code == 200
    assert (
        DocumentVersion.objects.filter(tenant=admin_client.tenant, status=VersionStatus.QUEUED).count() == 3
    )
    assert len(callbacks) == 3  # one indexing task each, enqueued after commit
    assert AuditEvent.objects.filter(tenant=admin_client.tenant, action="document.upload").count() == 3
    assert b"a.md" in response.content and b"uploaded" in response.content


BAD_FILES = [
    ("encrypted.pdf", lambda: encrypt_pdf(make_pdf([["secret"]]), "pw"), 422, "password"),
    ("corrupt.pdf", lambda: make_pdf([["x"]])[:200], 422, "damaged"),
    (
        "bomb.docx",
        lambda: add_zip_member(make_docx(), "word/media/zeros.bin", 300 * 1024 * 1024),
        422,
        "unpacks",
    ),
    ("image.png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), 415, "supported"),
    ("empty.txt", lambda: b"   \n", 422, "text"),
    ("scan.pdf", lambda: make_pdf([[]]), 422, "OCR"),
]


@pytest.mark.parametrize(("name", "make", "status", "phrase"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_files_are_refused_with_a_stored_reason(admin_client, name, make, status, phrase):
    good = _upload(admin_client, ("good.md", b"# Fine\n\nA fine document."))
    assert good.status_code == 200
    response = _upload(admin_client, (name, make()))
    assert response.status_code == status
    assert phrase.lower() in response.content.decode().lower()
    failed = DocumentVersion.objects.get(document__original_name=name)
    assert failed.status == VersionStatus.FAILED and phrase.lower() in failed.error_message.lower()
    assert AuditEvent.objects.filter(tenant=admin_client.tenant, action="document.rejected").exists()
    assert DocumentVersion.objects.get(document__original_name="good.md").status == VersionStatus.QUEUED


def test_a_docx_lying_about_its_size_is_refused_as_a_zip_bomb_without_inflating_it(admin_client):
    # 1.1 MB whose word/document.xml inflates to 300 MB while its headers claim 900 kB.
    data = make_lying_docx(real_size=300 * 1024 * 1024, claimed_size=900 * 1024)
    tracemalloc.start()
    try:
        response = _upload(admin_client, ("lying.docx", data))
        peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()
    assert response.status_code == 422
    assert "zip bombs" in response.content.decode()
    assert peak < 50, f"peak traced memory {peak:.0f} MB"
    failed = DocumentVersion.objects.get(document__original_name="lying.docx")
    assert (failed.status, failed.error_code) == (VersionStatus.FAILED, "zip_bomb")
    assert "its header declares" in failed.error_message
    rejected = AuditEvent.objects.get(tenant=admin_client.tenant, action="document.rejected")
    assert rejected.extra == {"version": failed.pk, "reason": "zip_bomb"}


def test_too_large_is_413_before_reading(admin_client, settings):
    settings.TESSERA = {**settings.TESSERA, "MAX_UPLOAD_BYTES": 1000}
    response = _upload(admin_client, ("big.txt", b"x " * 2000))
    assert response.status_code == 413 and b"limit is" in response.content
    assert DocumentVersion.objects.get().error_code == "too_large"


def test_latin1_text_is_decoded(admin_client):
    response = _upload(admin_client, ("notes.txt", "Café crème, déjà vu, naïve.".encode("latin-1")))
    assert response.status_code == 200
    assert DocumentVersion.objects.get().kind == "text"


def test_identical_file_is_not_ingested_twice(admin_client):
    assert _upload(admin_client, ("a.md", b"# Same\n\nbytes")).status_code == 200
    response = _upload(admin_client, ("again.md", b"# Same\n\nbytes"))
    assert response.status_code == 409 and b"identical" in response.content
    assert Document.objects.count() == 1


def test_members_cannot_upload(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.MEMBER))
    assert _upload(client, ("a.md", b"# A\n\nalpha")).status_code == 403
    assert not Document.objects.exists()


def test_new_version_and_delete_through_http(admin_client, django_capture_on_commit_callbacks):
    _upload(admin_client, ("a.md", b"# A\n\nalpha"))
    document = Document.objects.get()
    url = reverse("ingest:document_new_version", args=[document.pk])
    response = admin_client.post(url, {"file": SimpleUploadedFile("a2.md", b"# A\n\nalpha two")})
    assert response.status_code == 302
    assert list(document.versions.order_by("number").values_list("status", flat=True)) == [
        VersionStatus.SUPERSEDED,
        VersionStatus.QUEUED,
    ]
    page = admin_client.get(reverse("ingest:document", args=[document.pk]))
    assert page.status_code == 200 and b"Replaced by a newer version" in page.content
    assert b'hx-trigger="every 2s"' in page.content  # the new version's status, live
    with django_capture_on_commit_callbacks():
        assert admin_client.post(reverse("ingest:document_delete", args=[document.pk])).status_code == 302
    assert not Document.objects.exists()
    assert AuditEvent.objects.filter(tenant=admin_client.tenant, action="document.delete").exists()


def test_status_partial_polls_only_while_in_progress(admin_client):
    _upload(admin_client, ("a.md", b"# A\n\nalpha"))
    document = Document.objects.get()
    partial = admin_client.get(reverse("ingest:document_status", args=[document.pk]))
    assert b'hx-trigger="every 2s"' in partial.content and b"queued" in partial.content
    DocumentVersion.objects.update(status=VersionStatus.EMBEDDING, progress_done=3, progress_total=10)
    embedding = admin_client.get(reverse("ingest:document_status", args=[document.pk])).content
    assert b"3 of 10" in embedding
    assert b'<progress max="100" value="48" aria-label="Indexing a.md">' in embedding  # 30 + 60 * 3/10
    DocumentVersion.objects.update(status=VersionStatus.READY, chunk_count=7)
    ready = admin_client.get(reverse("ingest:document_status", args=[document.pk])).content
    assert b"every 2s" not in ready and b"ready (7 chunks)" in ready


def test_original_file_is_a_permission_checked_download(admin_client, client, member_of):
    from governance.models import AccessGroup

    _upload(admin_client, ("page.html", b"<html><body><h1>Hi</h1><script>alert(1)</script></body></html>"))
    document = Document.objects.get()
    url = reverse("ingest:document_file", args=[document.pk])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")  # never rendered in our origin
    assert response["Content-Security-Policy"] == "sandbox"
    assert b"<script>" in b"".join(response.streaming_content)
    assert admin_client.get(url + "?version=1").status_code == 200
    assert admin_client.get(url + "?version=7").status_code == 404
    assert admin_client.get(url + "?version=x").status_code == 404

    member = member_of(admin_client.tenant, role=Role.MEMBER, username="mia")
    client.force_login(member)
    assert client.get(url).status_code == 200  # unrestricted: every member may read it
    document.access_groups.add(AccessGroup.objects.create(tenant=admin_client.tenant, name="HR"))
    assert client.get(url).status_code == 404  # restricted to a group mia is not in

    outsider = member_of(TenantFactory(), role=Role.ADMIN, username="otto")
    client.force_login(outsider)
    assert client.get(url).status_code == 404  # another tenant's document looks missing


# --- the page's script: one file per request, JSON answers -------------------------------------------


def _post_one(client, name, data, **extra):
    return client.post(reverse("ingest:document_upload"), {"file": SimpleUploadedFile(name, data), **extra})


def test_upload_endpoint_answers_json_for_a_good_file(admin_client, django_capture_on_commit_callbacks):
    from governance.models import AccessGroup

    hr = AccessGroup.objects.create(tenant=admin_client.tenant, name="HR")
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post_one(admin_client, "leave.pdf", make_pdf([["parental leave"]]), access_groups=[hr.pk])
    assert response.status_code == 201
    body = response.json()
    document = Document.objects.get(tenant=admin_client.tenant)
    assert body["ok"] is True and body["name"] == "leave.pdf" and body["status"] == "queued"
    assert body["document_id"] == document.pk
    assert body["status_url"] == reverse("ingest:document_status", args=[document.pk])
    assert list(document.access_groups.all()) == [hr]
    assert len(callbacks) == 1


@pytest.mark.parametrize(("name", "make", "status", "phrase"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_upload_endpoint_answers_the_reason_of_a_bad_file(admin_client, name, make, status, phrase):
    response = _post_one(admin_client, name, make())
    assert response.status_code == status
    body = response.json()
    assert body["ok"] is False and phrase.lower() in body["message"].lower()
    failed = DocumentVersion.objects.get(document__original_name=name)
    assert failed.status == VersionStatus.FAILED and body["code"] == failed.error_code
    assert body["document_id"] == failed.document_id  # the stored failure shows in the list


def test_upload_endpoint_duplicate_missing_file_and_roles(admin_client, client, member_of):
    assert _post_one(admin_client, "a.md", b"# A\n\nalpha").status_code == 201
    duplicate = _post_one(admin_client, "copy.md", b"# A\n\nalpha")
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "duplicate" and "identical" in duplicate.json()["message"]
    assert duplicate.json()["document_id"] == Document.objects.get().pk
    missing = admin_client.post(reverse("ingest:document_upload"), {})
    assert missing.status_code == 400 and missing.json()["code"] == "no_file"
    assert admin_client.get(reverse("ingest:document_upload")).status_code == 405
    client.force_login(member_of(admin_client.tenant, role=Role.MEMBER, username="mo"))
    assert _post_one(client, "b.md", b"# B\n\nbravo").status_code == 403
    assert Document.objects.count() == 1


def test_too_large_single_upload_is_413_json(admin_client, settings):
    settings.TESSERA = {**settings.TESSERA, "MAX_UPLOAD_BYTES": 1000}
    response = _post_one(admin_client, "big.txt", b"x " * 2000)
    assert response.status_code == 413 and response.json()["code"] == "too_large"


# --- the list: search, status filter, pagination, actions ---------------------------------------------


def _document(tenant, title, *statuses):
    from ingest.tests.factories import DocumentFactory, DocumentVersionFactory

    document = DocumentFactory(tenant=tenant, title=title, original_name=f"{title}.txt")
    for number, status in enumerate(statuses, start=1):
        DocumentVersionFactory(document=document, number=number, status=status)
    return document


def _titles(response):
    return [d.title for d in response.context["documents"]]


def test_search_by_name_and_filter_by_newest_status(admin_client):
    tenant = admin_client.tenant
    _document(tenant, "Travel policy", VersionStatus.READY)
    _document(tenant, "Expenses", VersionStatus.FAILED)
    _document(tenant, "Handbook", VersionStatus.FAILED, VersionStatus.READY)  # fixed by a new version
    _document(tenant, "Security", VersionStatus.EMBEDDING)
    _document(TenantFactory(), "Travel elsewhere", VersionStatus.READY)  # another tenant's
    url = reverse("ingest:documents")
    assert sorted(_titles(admin_client.get(url, {"q": "travel"}))) == ["Travel policy"]
    assert _titles(admin_client.get(url, {"q": "expenses.txt"})) == ["Expenses"]  # the file's name too
    assert _titles(admin_client.get(url, {"status": "failed"})) == ["Expenses"]
    assert sorted(_titles(admin_client.get(url, {"status": "ready"}))) == ["Handbook", "Travel policy"]
    page = admin_client.get(url, {"status": "embedding", "q": "sec"})
    assert _titles(page) == ["Security"]
    assert b'<option value="embedding" selected>' in page.content and b'value="sec"' in page.content
    in_progress = admin_client.get(url, {"status": "in_progress"})
    assert _titles(in_progress) == ["Security"]
    assert b'<option value="in_progress" selected>In progress</option>' in in_progress.content
    assert admin_client.get(url, {"status": "bogus"}).status_code == 400


def test_htmx_filter_answers_only_the_rows(admin_client):
    _document(admin_client.tenant, "Expenses", VersionStatus.FAILED)
    response = admin_client.get(reverse("ingest:documents"), {"status": "failed"}, HTTP_HX_REQUEST="true")
    content = response.content.decode()
    assert response.status_code == 200 and "<html" not in content
    assert 'id="documents"' in content and "Expenses" in content
    empty = admin_client.get(reverse("ingest:documents"), {"q": "zzz"}, HTTP_HX_REQUEST="true")
    assert b"No document matches these filters." in empty.content


def test_pagination_keeps_the_filters(admin_client):
    for i in range(30):
        _document(admin_client.tenant, f"Report {i:02}", VersionStatus.READY)
    _document(admin_client.tenant, "Other", VersionStatus.FAILED)
    url = reverse("ingest:documents")
    first = admin_client.get(url, {"status": "ready"})
    assert len(_titles(first)) == 25
    assert b"Page 1 of 2 (30 documents)" in first.content
    assert b'href="/documents/?status=ready&amp;page=2"' in first.content
    second = admin_client.get(url, {"status": "ready", "page": 2})
    assert len(_titles(second)) == 5 and "Other" not in _titles(second)
    assert admin_client.get(url, {"page": 99}).status_code == 200  # past the end: the last page
    assert admin_client.get(url, {"page": "x"}).status_code == 400


def test_delete_asks_for_confirmation_first(admin_client, django_capture_on_commit_callbacks):
    document = _document(admin_client.tenant, "Old memo", VersionStatus.READY)
    url = reverse("ingest:document_delete", args=[document.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200 and b"Delete \xe2\x80\x9cOld memo\xe2\x80\x9d?" in confirm.content
    assert Document.objects.filter(pk=document.pk).exists()  # asking deletes nothing
    list_page = admin_client.get(reverse("ingest:documents")).content.decode()
    assert f'href="{url}"' in list_page  # each row links to the confirmation
    with django_capture_on_commit_callbacks():
        assert admin_client.post(url).status_code == 302
    assert not Document.objects.filter(pk=document.pk).exists()


def test_reindex_from_the_list_returns_to_the_list(admin_client, django_capture_on_commit_callbacks):
    from django.core.files.base import ContentFile

    document = _document(admin_client.tenant, "Memo", VersionStatus.FAILED)
    version = document.versions.get()
    version.file.save("memo.txt", ContentFile(b"memo"), save=True)
    url = reverse("ingest:document_reindex", args=[document.pk])
    back = "/documents/?status=failed"
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(url, {"next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert len(callbacks) == 1 and DocumentVersion.objects.get(pk=version.pk).status == VersionStatus.QUEUED
    with django_capture_on_commit_callbacks():
        elsewhere = admin_client.post(url, {"next": "https://evil.example/"})
    assert elsewhere["Location"] == reverse("ingest:document", args=[document.pk])  # never off-site


def test_other_tenants_document_pages_are_404(admin_client):
    theirs = _document(TenantFactory(), "Theirs", VersionStatus.READY)
    for name in ("document", "document_status", "document_delete", "document_file"):
        assert admin_client.get(reverse(f"ingest:{name}", args=[theirs.pk])).status_code == 404, name
    assert admin_client.post(reverse("ingest:document_delete", args=[theirs.pk])).status_code == 404
    assert Document.objects.filter(pk=theirs.pk).exists()


def test_new_version_answers_json_to_the_pages_script(admin_client, django_capture_on_commit_callbacks):
    assert _post_one(admin_client, "a.md", b"# A\n\nalpha").status_code == 201
    document = Document.objects.get()
    url = reverse("ingest:document_new_version", args=[document.pk])
    as_script = {"HTTP_ACCEPT": "application/json"}
    with django_capture_on_commit_callbacks() as callbacks:
        good = admin_client.post(url, {"file": SimpleUploadedFile("a2.md", b"# A\n\nalpha two")}, **as_script)
    assert good.status_code == 201 and good.json()["version"] == 2 and len(callbacks) == 1
    assert good.json()["status_url"] == reverse("ingest:document_status", args=[document.pk])
    bad = admin_client.post(
        url, {"file": SimpleUploadedFile("b.png", b"\x89PNG\r\n\x1a\n" + bytes(99))}, **as_script
    )
    assert bad.status_code == 415 and bad.json()["code"] == "unsupported_type"
    assert bad.json()["document_id"] == document.pk  # stored as this document's failed version 3
    assert list(document.versions.order_by("number").values_list("status", flat=True)) == [
        VersionStatus.SUPERSEDED,
        VersionStatus.QUEUED,
        VersionStatus.FAILED,
    ]
    missing = admin_client.post(url, {}, **as_script)
    assert missing.status_code == 400 and missing.json()["code"] == "no_file"
