"""The documents REST API through HTTP: list, upload (one, many, partly or wholly refused), detail,
delete, new version, re-index, and every scope and tenant rule, with the database and audit state."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from governance import services as governance_services
from governance.models import AccessGroup, AuditEvent, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus
from ingest.tests.builders import HANDBOOK, encrypt_pdf, ingest_now, make_docx, make_pdf
from ingest.tests.factories import DocumentFactory, DocumentVersionFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
LIST = reverse("api:documents")


def _detail(document_id, what=""):
    return reverse(f"api:documents_{what or 'detail'}", args=[document_id])


def _client(tenant, scopes=("ingest",)):
    api_key, raw = governance_services.api_key_create(tenant=tenant, name="k", scopes=scopes, actor=Actor())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.tenant, client.api_key = tenant, api_key
    return client


@pytest.fixture
def api():
    return _client(TenantFactory())


def _files(*files):
    return [SimpleUploadedFile(name, data) for name, data in files]


def _upload(client, *files, **extra):
    return client.post(LIST, {"files": _files(*files), **extra}, format="multipart")


# --- upload -------------------------------------------------------------------------------------


def test_upload_one_text_file(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = _upload(api, ("notes.txt", b"Expenses are reimbursed within thirty days."))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["rejected"] == []
    [created] = body["created"]
    version = DocumentVersion.objects.get(pk=created["version_id"])
    assert created == {
        "name": "notes.txt",
        "document_id": version.document_id,
        "version_id": version.pk,
        "version": 1,
        "status": "queued",
    }
    assert version.tenant == api.tenant and version.kind == "text"
    assert len(callbacks) == 1  # its indexing, enqueued after commit
    upload = AuditEvent.objects.get(action="document.upload")
    assert upload.tenant == api.tenant and upload.actor_api_key_id == api.api_key.pk


def test_upload_many_files_pdf_docx_and_text(api):
    response = _upload(
        api,
        ("policy.pdf", make_pdf([["Parental leave is sixteen weeks."]])),
        ("handbook.docx", make_docx()),
        ("notes.md", HANDBOOK.encode()),
    )
    assert response.status_code == 201, response.content
    assert [c["name"] for c in response.json()["created"]] == ["policy.pdf", "handbook.docx", "notes.md"]
    kinds = DocumentVersion.objects.filter(tenant=api.tenant).values_list("kind", flat=True)
    assert sorted(kinds) == ["docx", "markdown", "pdf"]
    assert AuditEvent.objects.filter(tenant=api.tenant, action="document.upload").count() == 3


def test_a_single_file_may_come_as_file(api):
    response = api.post(LIST, {"file": SimpleUploadedFile("a.txt", b"alpha text")}, format="multipart")
    assert response.status_code == 201
    assert Document.objects.get(tenant=api.tenant).original_name == "a.txt"


def test_partial_refusal_stores_the_good_files_and_reports_the_others(api):
    response = _upload(
        api,
        ("good.txt", b"A fine document."),
        ("locked.pdf", encrypt_pdf(make_pdf([["secret"]]), "pw")),
    )
    assert response.status_code == 201
    body = response.json()
    assert [c["name"] for c in body["created"]] == ["good.txt"]
    [rejected] = body["rejected"]
    assert (rejected["name"], rejected["status"], rejected["code"]) == ("locked.pdf", 422, "encrypted_pdf")
    failed = DocumentVersion.objects.get(document_id=rejected["document_id"])
    assert failed.status == VersionStatus.FAILED and failed.error_code == "encrypted_pdf"
    assert AuditEvent.objects.filter(tenant=api.tenant, action="document.rejected").count() == 1


BAD_FILES = [
    ("corrupt.pdf", lambda: make_pdf([["x"]])[:200], 422, "corrupt_pdf"),
    ("encrypted.pdf", lambda: encrypt_pdf(make_pdf([["secret"]]), "pw"), 422, "encrypted_pdf"),
    ("empty.txt", lambda: b"   \n", 422, "no_text"),
    ("image.png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(200), 415, "unsupported_type"),
]


@pytest.mark.parametrize(("name", "make", "status", "code"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_refused_file_alone_is_the_problem_of_its_refusal(api, name, make, status, code):
    response = _upload(api, (name, make()))
    assert response.status_code == status
    assert response["Content-Type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert [(e["name"], e["code"]) for e in body["errors"]] == [(name, code)]
    failed = DocumentVersion.objects.get(tenant=api.tenant)
    assert (failed.status, failed.error_code) == (VersionStatus.FAILED, code)
    assert failed.error_message == body["errors"][0]["detail"]


def test_too_large_is_413(api, settings):
    settings.TESSERA = {**settings.TESSERA, "MAX_UPLOAD_BYTES": 1000}
    response = _upload(api, ("big.txt", b"x " * 2000))
    assert response.status_code == 413 and response.json()["code"] == "too_large"
    assert DocumentVersion.objects.get(tenant=api.tenant).error_code == "too_large"


def test_duplicate_is_409_and_names_the_existing_document(api):
    first = _upload(api, ("a.txt", b"same bytes"))
    existing = first.json()["created"][0]["document_id"]
    response = _upload(api, ("again.txt", b"same bytes"))
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "duplicate" and body["errors"][0]["document_id"] == existing
    assert Document.objects.filter(tenant=api.tenant).count() == 1


def test_no_files_and_too_many_files_are_400(api, settings):
    empty = api.post(LIST, {}, format="multipart")
    assert empty.status_code == 400 and empty.json()["code"] == "no_file"
    settings.TESSERA = {**settings.TESSERA, "API_MAX_FILES_PER_REQUEST": 2}
    response = _upload(api, ("a.txt", b"alpha"), ("b.txt", b"bravo"), ("c.txt", b"charlie"))
    assert response.status_code == 400 and response.json()["code"] == "too_many_files"
    assert not Document.objects.exists()


def test_a_json_body_is_415(api):
    response = api.post(LIST, {"files": []}, format="json")
    assert response.status_code == 415 and response["Content-Type"].startswith(PROBLEM)


def test_access_groups_restrict_the_new_documents_and_must_be_the_tenants(api):
    hr = AccessGroup.objects.create(tenant=api.tenant, name="HR")
    theirs = AccessGroup.objects.create(tenant=TenantFactory(), name="HR")
    response = _upload(api, ("hr.txt", b"for HR only"), access_groups=[hr.pk])
    assert response.status_code == 201
    document = Document.objects.get(pk=response.json()["created"][0]["document_id"])
    assert list(document.access_groups.all()) == [hr]
    refused = _upload(api, ("other.txt", b"other text"), access_groups=[theirs.pk])
    assert refused.status_code == 400 and refused.json()["code"] == "unknown_access_group"
    assert Document.objects.count() == 1


def test_random_bytes_are_a_4xx_or_a_stored_text_never_a_500(api):
    rng = random.Random(8)
    for size in (0, 1, 7, 300, 5000):
        data = bytes(rng.getrandbits(8) for _ in range(size))
        response = _upload(api, (f"fuzz{size}.bin", data))
        assert response.status_code in (201, 409, 413, 415, 422), (size, response.content)


# --- list ---------------------------------------------------------------------------------------


def test_list_shows_status_progress_error_and_groups(api):
    hr = AccessGroup.objects.create(tenant=api.tenant, name="HR")
    api.api_key.access_groups.set([hr])  # a key sees the documents of its groups (admin keys: all)
    ready = ingest_now(api.tenant, "handbook.md", HANDBOOK.encode(), access_groups=[hr]).document
    failed = DocumentVersionFactory(
        document=DocumentFactory(tenant=api.tenant, title="Broken"),
        number=1,
        status=VersionStatus.FAILED,
        error_code="corrupt_pdf",
        error_message="Damaged.",
    ).document
    DocumentVersionFactory(document=DocumentFactory(), number=1)  # another tenant's
    response = api.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["next"] is None
    rows = {row["id"]: row for row in body["results"]}
    assert set(rows) == {ready.pk, failed.pk}
    row = rows[ready.pk]
    assert (row["title"], row["original_name"]) == ("Employee handbook", "handbook.md")
    assert (row["kind"], row["status"], row["version"]) == ("markdown", "ready", 1)
    assert row["progress"]["percent"] == 100 and row["error"] is None and row["chunk_count"] > 0
    assert row["access_groups"] == [hr.pk] and row["created_at"] and row["updated_at"]
    assert rows[failed.pk]["error"] == {"code": "corrupt_pdf", "message": "Damaged."}


def test_list_filters_and_paginates(api):
    for title, status in [("Leave policy", "ready"), ("Travel policy", "embedding"), ("Menu", "failed")]:
        DocumentVersionFactory(
            document=DocumentFactory(tenant=api.tenant, title=title), number=1, status=status
        )

    def titles(**params):
        response = api.get(LIST, params)
        assert response.status_code == 200
        return sorted(row["title"] for row in response.json()["results"])

    assert titles(q="policy") == ["Leave policy", "Travel policy"]
    assert titles(status="failed") == ["Menu"]
    assert titles(status="in_progress") == ["Travel policy"]
    assert titles(q="policy", status="ready") == ["Leave policy"]
    first = api.get(LIST, {"page_size": 2}).json()
    assert first["count"] == 3 and len(first["results"]) == 2 and "page=2" in first["next"]
    assert len(api.get(LIST, {"page_size": 2, "page": 2}).json()["results"]) == 1
    assert api.get(LIST, {"page": 9}).status_code == 404
    bad = api.get(LIST, {"status": "nonsense"})
    assert bad.status_code == 400 and bad["Content-Type"].startswith(PROBLEM)


# --- one document -------------------------------------------------------------------------------


def test_detail_lists_every_version_newest_first(api):
    version = ingest_now(api.tenant, "handbook.md", HANDBOOK.encode())
    ingest_now(api.tenant, "handbook-v2.md", HANDBOOK.encode() + b"\nMore.", document=version.document)
    response = api.get(_detail(version.document_id))
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["status"]) == (2, "ready")
    assert [(v["number"], v["status"]) for v in body["versions"]] == [(2, "ready"), (1, "superseded")]
    old = body["versions"][1]
    assert old["sha256"] == version.sha256 and old["size_bytes"] == len(HANDBOOK.encode())
    assert old["kind"] == "markdown" and old["progress"]["percent"] == 0 and old["created_at"]


def test_delete_removes_the_document_and_its_chunks_with_an_audit_row(
    api, django_capture_on_commit_callbacks
):
    version = ingest_now(api.tenant, "handbook.md", HANDBOOK.encode())
    assert Chunk.objects.filter(version=version).exists()
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.delete(_detail(version.document_id))
    assert response.status_code == 204 and response.content == b""
    assert not Document.objects.filter(pk=version.document_id).exists()
    assert not Chunk.objects.filter(tenant=api.tenant).exists()
    event = AuditEvent.objects.get(action="document.delete")
    assert event.actor_api_key_id == api.api_key.pk and event.target_id == str(version.document_id)
    assert len(callbacks) == 1  # the vectors leave the indexes in the worker


def test_new_version(api, django_capture_on_commit_callbacks):
    first = ingest_now(api.tenant, "handbook.md", HANDBOOK.encode())
    url = _detail(first.document_id, "versions")
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(
            url, {"file": SimpleUploadedFile("v2.md", b"# New\n\nNew text.")}, format="multipart"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["status"], body["document_id"]) == (2, "queued", first.document_id)
    first.refresh_from_db()
    assert first.status == VersionStatus.READY and len(callbacks) == 1  # searchable until v2 is ready
    assert first.document.current_version_id == first.pk
    missing = api.post(url, {}, format="multipart")
    assert missing.status_code == 400 and missing["Content-Type"].startswith(PROBLEM)
    same = api.post(url, {"file": SimpleUploadedFile("v3.md", b"# New\n\nNew text.")}, format="multipart")
    assert same.status_code == 409 and same.json()["code"] == "duplicate"


def test_reindex_queues_the_newest_version(api, django_capture_on_commit_callbacks):
    version = ingest_now(api.tenant, "handbook.md", HANDBOOK.encode())
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(_detail(version.document_id, "reindex"))
    assert response.status_code == 202
    assert (response.json()["id"], response.json()["status"]) == (version.pk, "queued")
    version.refresh_from_db()
    assert version.status == VersionStatus.QUEUED and len(callbacks) == 1
    assert AuditEvent.objects.filter(tenant=api.tenant, action="document.reindex").exists()


def test_the_original_file_is_a_download(api):
    html = b"<html><body><h1>Hi</h1><script>alert(1)</script></body></html>"
    created = _upload(api, ("page.html", html)).json()["created"][0]
    url = _detail(created["document_id"], "file")
    response = api.get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "text/html"
    assert response["Content-Disposition"].startswith("attachment;")  # never rendered in our origin
    assert response["Content-Security-Policy"] == "sandbox"
    assert b"".join(response.streaming_content) == html
    assert api.get(url, {"version": 1}).status_code == 200
    missing = api.get(url, {"version": 7}, HTTP_ACCEPT="text/html")
    assert missing.status_code == 404 and missing["Content-Type"].startswith(PROBLEM)
    assert api.get(url, {"version": "x"}).status_code == 400


# --- who may do what ----------------------------------------------------------------------------


def _endpoints(document_id):
    return [
        ("get", LIST),
        ("post", LIST),
        ("get", _detail(document_id)),
        ("delete", _detail(document_id)),
        ("post", _detail(document_id, "versions")),
        ("post", _detail(document_id, "reindex")),
        ("get", _detail(document_id, "file")),
    ]


def _call(client, method, url):
    if method == "post":
        return client.post(url, {"file": SimpleUploadedFile("x.txt", b"some text")}, format="multipart")
    return getattr(client, method)(url)


def test_without_or_with_a_wrong_or_revoked_key_it_is_401(api):
    document = DocumentVersionFactory(document=DocumentFactory(tenant=api.tenant), number=1).document
    revoked = _client(api.tenant)
    governance_services.api_key_revoke(api_key=revoked.api_key, actor=Actor())
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer tsk_nothere_secret")
    for client in (APIClient(), wrong, revoked):
        for method, url in _endpoints(document.pk):
            response = _call(client, method, url)
            assert response.status_code == 401, (method, url)
            assert response["Content-Type"].startswith(PROBLEM)
    assert Document.objects.count() == 1


def test_a_key_without_ingest_and_a_member_are_403(client, member_of):
    tenant = TenantFactory()
    document = DocumentVersionFactory(document=DocumentFactory(tenant=tenant), number=1).document
    client.force_login(member_of(tenant, role=Role.MEMBER))
    for caller in (_client(tenant, scopes=("ask", "search")), client):
        for method, url in _endpoints(document.pk):
            response = _call(caller, method, url)
            assert response.status_code == 403, (method, url)
            assert response.json()["code"] == "missing_scope"
    assert Document.objects.count() == 1 and DocumentVersion.objects.count() == 1


def test_an_admin_signed_in_may_use_it(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN))
    assert client.get(LIST).status_code == 200


def test_another_tenants_or_an_invisible_document_is_404(api):
    theirs = DocumentVersionFactory(document=DocumentFactory(), number=1).document
    hr = AccessGroup.objects.create(tenant=api.tenant, name="HR")
    hidden = DocumentFactory(tenant=api.tenant)
    hidden.access_groups.set([hr])
    DocumentVersionFactory(document=hidden, number=1)
    for document_id in (theirs.pk, hidden.pk, 2**63 - 1, 2**63 + 5):
        for method, url in _endpoints(document_id)[2:]:
            response = _call(api, method, url)
            assert response.status_code == 404, (method, url)
            assert response.json()["code"] == "not_found"
    assert Document.objects.count() == 2 and DocumentVersion.objects.count() == 2
    assert [row["id"] for row in api.get(LIST).json()["results"]] == []


def test_every_call_is_audited_with_its_route_and_status(api):
    _upload(api, ("a.txt", b"alpha text"))
    document = Document.objects.get()
    api.get(_detail(document.pk))
    api.get(_detail(document.pk + 1000))
    calls = AuditEvent.objects.filter(tenant=api.tenant, action="api.call").order_by("pk")
    assert [event.extra for event in calls] == [
        {"method": "POST", "route": "/api/v1/documents/", "status": 201},
        {"method": "GET", "route": "/api/v1/documents/<object_id:document_id>/", "status": 200},
        {"method": "GET", "route": "/api/v1/documents/<object_id:document_id>/", "status": 404},
    ]
    assert all(event.actor_api_key_id == api.api_key.pk for event in calls)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/documents/abc/"),
        ("post", "/api/v1/documents/-1/reindex/"),
        ("get", f"/api/v1/documents/{'9' * 5000}/"),
    ],
)
def test_an_id_that_is_not_a_number_is_a_404_problem(api, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith(PROBLEM) and response.json()["code"] == "not_found"


def test_options_describes_the_endpoint(api):
    assert api.options(LIST).status_code == 200


def test_an_empty_status_filter_means_any(api):
    DocumentVersionFactory(document=DocumentFactory(tenant=api.tenant), number=1)
    assert api.get(LIST, {"status": "", "q": ""}).json()["count"] == 1


def test_a_full_disk_refuses_the_upload_with_507_and_keeps_no_partial_file(api, settings, monkeypatch):
    """A disk with no room: the storage writes part of the file, then fails. The upload is a clear
    507 problem, no document is recorded, and no partial original is left behind."""
    import errno

    from django.core.files.storage import FileSystemStorage

    def disk_full(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as partial:
            partial.write(b"")  # 0 bytes written, then the disk says no
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSystemStorage, "_save", disk_full)
    response = _upload(api, ("notes.txt", b"Expenses are reimbursed within thirty days."))
    assert response.status_code == 507 and response["Content-Type"].startswith(PROBLEM)
    assert response.json()["code"] == "insufficient_storage"
    assert not Document.objects.filter(tenant=api.tenant).exists()
    assert [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == []

    monkeypatch.undo()  # space freed: the same upload goes through
    assert _upload(api, ("notes.txt", b"Expenses are reimbursed within thirty days.")).status_code == 201
