"""In a real browser, against a live server and a real Celery worker: a tenant admin uploads files
through the documents page (file input and drag and drop), watches each file's upload bar and then
its indexing reach "ready", sees a bad file's reason, filters the list; members and other tenants
are kept out. The live server (a thread of this process) and the worker (another process) share
the test database and the test's data folder (uploaded files, indexes, the broker's queue)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from playwright.sync_api import expect

from conftest import ARTIFACTS
from governance.models import AccessGroup, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest import services
from ingest.models import Document, DocumentVersion, VersionStatus
from ingest.tests.builders import encrypt_pdf, make_docx, make_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
INDEXING_TIMEOUT_MS = 120_000


def _sign_in(page: Any, live_server: Any, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def _payload(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def _drop(page: Any, files: list[dict[str, Any]]) -> None:
    """Drop files on the upload form as a user dragging them from their desktop would."""
    encoded = [
        {"name": f["name"], "type": f["mimeType"], "data": base64.b64encode(f["buffer"]).decode()}
        for f in files
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return transfer;
        }""",
        encoded,
    )
    page.dispatch_event("[data-testid=upload-form]", "dragover", {"dataTransfer": transfer})
    page.dispatch_event("[data-testid=upload-form]", "drop", {"dataTransfer": transfer})


def _upload_item(page: Any, name: str) -> Any:
    return page.locator(f".upload-queue li[data-upload-name='{name}']")


def _wait_ready(page: Any, name: str) -> None:
    item = _upload_item(page, name)
    item.locator("[data-doc-status='ready']").wait_for(timeout=INDEXING_TIMEOUT_MS)
    bar = item.get_by_role("progressbar", name=f"Upload of {name}")
    assert bar.get_attribute("value") == "100"
    assert item.get_attribute("data-state") == "uploaded"


def test_admin_uploads_watches_indexing_and_filters(page, live_server, live_worker, member_of, axe):
    tenant = TenantFactory(name="Acme Corp")
    hr = AccessGroup.objects.create(tenant=tenant, name="HR")
    member_of(tenant, role=Role.ADMIN, username="ada")
    _sign_in(page, live_server, "ada")
    page.get_by_role("link", name="Documents").click()
    page.wait_for_selector("[data-dropzone]:not([hidden])")  # the script took over the form
    axe(page)

    page.set_input_files(
        "#files",
        [
            _payload("leave-policy.pdf", make_pdf([["Parental leave is sixteen weeks."]]), PDF),
            _payload("handbook.docx", make_docx(), DOCX),
        ],
    )
    page.get_by_role("button", name="Upload", exact=True).click()
    _upload_item(page, "handbook.docx").wait_for()
    axe(page)  # while uploading and indexing
    _wait_ready(page, "leave-policy.pdf")
    _wait_ready(page, "handbook.docx")
    handbook = Document.objects.get(tenant=tenant, original_name="handbook.docx")
    link = _upload_item(page, "handbook.docx").get_by_role("link", name="handbook.docx")
    assert link.get_attribute("href") == f"/documents/{handbook.pk}/"

    page.get_by_label("HR").check()  # the dropped files are for HR only
    _drop(
        page,
        [
            _payload("locked.pdf", encrypt_pdf(make_pdf([["secret"]]), "pw"), PDF),
            _payload("notes.pdf", make_pdf([["Expenses are reimbursed within thirty days."]]), PDF),
        ],
    )
    locked = _upload_item(page, "locked.pdf")
    page.wait_for_selector(".upload-queue li[data-upload-name='locked.pdf'][data-state='failed']")
    assert "password" in locked.inner_text().lower()
    _wait_ready(page, "notes.pdf")
    announced = page.get_by_test_id("announcer").inner_text()
    assert "locked.pdf: refused" in announced and "notes.pdf: ready" in announced

    # The list caught up: every document, ready or failed with its stored reason.
    rows = page.get_by_test_id("documents")
    expect(rows.locator("[data-doc-status='failed']")).to_have_count(1)
    expect(rows.locator("[data-doc-status='ready']")).to_have_count(3)  # its own polls caught up
    assert list(Document.objects.get(original_name="notes.pdf").access_groups.all()) == [hr]
    assert not Document.objects.get(original_name="handbook.docx").access_groups.exists()
    versions = DocumentVersion.objects.filter(tenant=tenant)
    assert sorted(versions.values_list("status", flat=True)) == ["failed", "ready", "ready", "ready"]
    assert all(v.chunk_count > 0 for v in versions.filter(status=VersionStatus.READY))
    axe(page)  # finished and failed uploads
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "documents-uploads.png"), full_page=True)

    # Filter by status (htmx), and the URL keeps the filter so it can be bookmarked.
    page.select_option("#status", "failed")
    page.wait_for_url(lambda url: "status=failed" in url)
    table_rows = page.locator("#documents tbody tr")
    expect(table_rows).to_have_count(1)
    expect(rows).to_contain_text("locked.pdf")
    page.reload()
    assert page.locator("#status").input_value() == "failed"
    expect(table_rows).to_have_count(1)
    expect(rows).to_contain_text("locked.pdf")
    page.get_by_label("Name", exact=True).fill("hand")
    page.select_option("#status", "")
    page.wait_for_url(lambda url: "q=hand" in url and "status=failed" not in url)
    expect(table_rows).to_have_count(1)
    expect(rows).to_contain_text("Employee Handbook")  # the DOCX names itself
    expect(rows).to_contain_text("handbook.docx")  # and the file's name stays in sight

    # Delete asks first, on a page of its own (it works without JavaScript too).
    page.get_by_role("link", name="Delete Employee Handbook").click()
    page.get_by_role("heading", name="Delete “Employee Handbook”?").wait_for()
    axe(page)
    assert Document.objects.filter(original_name="handbook.docx").exists()
    page.get_by_role("button", name="Delete “Employee Handbook”").click()
    page.get_by_text("'Employee Handbook' was deleted.").wait_for()
    assert not Document.objects.filter(original_name="handbook.docx").exists()
    expect(page.locator("#documents tbody tr")).to_have_count(3)

    notes = Document.objects.get(original_name="notes.pdf")
    page.goto(f"{live_server.url}/documents/{notes.pk}/")
    assert "ready (1 chunk)" in page.get_by_test_id(f"status-{notes.pk}").inner_text()
    axe(page)  # the document's own page: versions, new version, access groups
    page.set_input_files(
        "#new-version-file", [_payload("notes-v2.pdf", make_pdf([["Expenses: within sixty days."]]), PDF)]
    )
    page.get_by_role("button", name="Upload new version").click()
    _wait_ready(page, "notes-v2.pdf")  # the new version's own upload bar, then its indexing
    assert list(notes.versions.order_by("number").values_list("status", flat=True)) == ["superseded", "ready"]


def test_without_javascript_the_plain_form_still_uploads(browser, live_server, live_worker, member_of):
    tenant = TenantFactory()
    member_of(tenant, role=Role.ADMIN, username="noah")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _sign_in(page, live_server, "noah")
        page.goto(f"{live_server.url}/documents/")
        page.set_input_files(
            "#files",
            [
                _payload("plain.pdf", make_pdf([["Plain form upload."]]), PDF),
                _payload("locked.pdf", encrypt_pdf(make_pdf([["secret"]]), "pw"), PDF),
            ],
        )
        page.get_by_role("button", name="Upload", exact=True).click()
        results = page.get_by_test_id("upload-results")
        results.wait_for()
        assert "plain.pdf: uploaded" in results.inner_text()
        assert "password" in results.inner_text().lower()
    finally:
        context.close()
    assert Document.objects.filter(tenant=tenant).count() == 2


def test_members_and_other_tenants_are_kept_out(page, live_server, member_of):
    acme, globex = TenantFactory(name="Acme"), TenantFactory(name="Globex")
    member_of(acme, role=Role.MEMBER, username="mia")
    member_of(acme, role=Role.ADMIN, username="ada")
    theirs = services.document_upload(
        tenant=globex,
        actor=Actor(label="t"),
        upload=services.Upload("globex-plans.pdf", make_pdf([["Globex secret plans."]])),
        enqueue=False,
    ).document

    _sign_in(page, live_server, "mia")
    assert page.goto(f"{live_server.url}/documents/").status == 403
    page.context.clear_cookies()

    _sign_in(page, live_server, "ada")
    assert page.goto(f"{live_server.url}/documents/").status == 200
    for suffix in ("", "file/", "status/", "delete/"):
        response = page.goto(f"{live_server.url}/documents/{theirs.pk}/{suffix}")
        assert response.status == 404, suffix
        assert "globex" not in page.content().lower()
