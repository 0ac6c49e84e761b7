"""Access groups named by a browser upload: an unknown or another tenant's id is a 400
``unknown_access_group`` (as in the API) and nothing is stored, never a document open to everyone."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from governance.models import AccessGroup, AuditEvent, Role
from governance.tests.factories import AccessGroupFactory, TenantFactory
from ingest.models import Document, DocumentVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN))
    client.tenant = tenant
    return client


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def _nothing_stored(tenant):
    assert not Document.objects.exists() and not DocumentVersion.objects.exists()
    assert _stored_files() == []
    assert not AuditEvent.objects.filter(tenant=tenant, action__startswith="document.").exists()


def _bad_ids(tenant):
    mine = AccessGroupFactory(tenant=tenant, name="HR")
    theirs = AccessGroupFactory(tenant=TenantFactory(), name="HR")
    return {
        "another tenant's": [str(theirs.pk)],
        "unknown": ["987654"],
        "mine and another tenant's": [str(mine.pk), str(theirs.pk)],
        "not a number": ["HR"],
        "too long for a key": ["9" * 30],
    }


@pytest.mark.parametrize(
    "case", ["another tenant's", "unknown", "mine and another tenant's", "not a number", "too long for a key"]
)
def test_the_pages_upload_refuses_unknown_groups_and_stores_nothing(admin_client, case):
    ids = _bad_ids(admin_client.tenant)[case]
    response = admin_client.post(
        reverse("ingest:document_upload"),
        {"file": SimpleUploadedFile("secret.md", b"# Pay\n\nSalaries for HR only."), "access_groups": ids},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["code"] == "unknown_access_group"
    assert "Unknown access group" in body["message"] and body["name"] == "secret.md"
    _nothing_stored(admin_client.tenant)


def test_the_form_without_javascript_refuses_them_too(admin_client):
    theirs = AccessGroupFactory(tenant=TenantFactory())
    files = [SimpleUploadedFile("a.md", b"# A\n\nalpha"), SimpleUploadedFile("b.md", b"# B\n\nbravo")]
    response = admin_client.post(
        reverse("ingest:documents"), {"files": files, "access_groups": [str(theirs.pk)]}
    )
    assert response.status_code == 400
    assert "Unknown access group" in response.content.decode()
    _nothing_stored(admin_client.tenant)


def test_the_tenants_own_groups_still_restrict_the_upload(admin_client):
    hr = AccessGroupFactory(tenant=admin_client.tenant, name="HR")
    response = admin_client.post(
        reverse("ingest:document_upload"),
        {"file": SimpleUploadedFile("pay.md", b"# Pay\n\nSalaries."), "access_groups": [str(hr.pk)]},
    )
    assert response.status_code == 201
    assert list(Document.objects.get().access_groups.all()) == [hr]


def test_setting_a_documents_groups_refuses_another_tenants_group(admin_client):
    hr = AccessGroupFactory(tenant=admin_client.tenant, name="HR")
    theirs = AccessGroupFactory(tenant=TenantFactory())
    admin_client.post(
        reverse("ingest:document_upload"),
        {"file": SimpleUploadedFile("pay.md", b"# Pay\n\nSalaries."), "access_groups": [str(hr.pk)]},
    )
    document = Document.objects.get()
    response = admin_client.post(
        reverse("ingest:document_groups", args=[document.pk]), {"access_groups": [str(theirs.pk)]}
    )
    assert response.status_code == 400 and b"Unknown access group" in response.content
    assert list(document.access_groups.all()) == [hr]  # still restricted, not opened to everyone
    assert not AuditEvent.objects.filter(action="document.access_groups_set").exists()
    assert AccessGroup.objects.filter(tenant=admin_client.tenant).count() == 1
