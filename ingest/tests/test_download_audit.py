"""A document's original file leaving Tessera is audited (``document.download``), from the browser and
the REST API alike; a refused download (another tenant's, a restricted one, a missing version) is not."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from governance import services as governance_services
from governance.models import AccessGroup, AuditEvent, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.models import Document

pytestmark = pytest.mark.django_db


def _downloads(tenant):
    return list(AuditEvent.objects.filter(tenant=tenant, action="document.download").order_by("id"))


@pytest.fixture
def document(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN, username="ada"))
    upload = {"files": [SimpleUploadedFile("salaries.md", b"# Salaries\n\nConfidential.")]}
    assert client.post(reverse("ingest:documents"), upload).status_code == 200
    document = Document.objects.get(tenant=tenant)
    document.access_groups.add(AccessGroup.objects.create(tenant=tenant, name="HR"))  # restricted
    return document


def test_a_browser_download_of_a_restricted_document_is_audited(client, member_of, document):
    url = reverse("ingest:document_file", args=[document.pk])
    response = client.get(url)
    assert response.status_code == 200 and b"Confidential" in b"".join(response.streaming_content)
    [event] = _downloads(document.tenant)
    assert event.actor_label == "ada" and event.actor_id is not None
    assert (event.target_type, event.target_id) == ("document", str(document.pk))
    assert event.extra == {"version": 1, "channel": "browser"}
    # Refused downloads are not downloads: a member outside the group, another tenant, no such version.
    assert client.get(url + "?version=7").status_code == 404
    client.force_login(member_of(document.tenant, role=Role.MEMBER))
    assert client.get(url).status_code == 404
    client.force_login(member_of(TenantFactory(), role=Role.ADMIN))
    assert client.get(url).status_code == 404
    assert len(_downloads(document.tenant)) == 1


def test_an_api_download_is_audited_the_same_way(document):
    api_key, raw = governance_services.api_key_create(
        tenant=document.tenant, name="sync", scopes=["ingest"], actor=Actor()
    )
    api_key.access_groups.set(document.access_groups.all())  # a key that may read the HR documents
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = api.get(reverse("api:documents_file", args=[document.pk]))
    assert response.status_code == 200
    [event] = _downloads(document.tenant)
    assert event.actor_api_key_id == api_key.pk and event.actor_label == f"api-key:{api_key.prefix}"
    assert (event.target_type, event.target_id) == ("document", str(document.pk))
    assert event.extra == {"version": 1, "channel": "api"}
