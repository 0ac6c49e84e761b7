"""Uploads through HTTP: every bad input is a clear 4xx with its reason stored; nothing else lost."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.models import AuditEvent, Role
from governance.tests.factories import TenantFactory
from ingest.models import Document, DocumentVersion, VersionStatus
from ingest.tests.builders import add_zip_member, encrypt_pdf, make_docx, make_pdf

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
    assert b"3 of 10" in admin_client.get(reverse("ingest:document_status", args=[document.pk])).content
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
