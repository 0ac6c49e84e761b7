"""Upload through the REST API and poll until ready: the indexing runs in a real Celery worker."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from governance.services import Actor, api_key_create
from governance.tests.factories import TenantFactory
from ingest.models import Chunk
from ingest.tests.builders import HANDBOOK, make_pdf

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _poll_until_settled(api, document_id, timeout=120.0):
    """GET the document until its newest version is ready or failed; its last state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(reverse("api:documents_detail", args=[document_id]))
        assert response.status_code == 200
        body = response.json()
        if body["status"] in ("ready", "failed"):
            return body
        assert 0 <= body["progress"]["percent"] < 100
        time.sleep(0.3)
    pytest.fail(f"document {document_id} not indexed after {timeout}s")


def test_upload_through_the_api_and_poll_until_ready(live_worker):
    tenant = TenantFactory()
    _, raw = api_key_create(tenant=tenant, name="portal", scopes=["ingest"], actor=Actor())
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    files = [
        SimpleUploadedFile("handbook.md", HANDBOOK.encode()),
        SimpleUploadedFile("leave.pdf", make_pdf([["Parental leave is sixteen weeks, fully paid."]])),
    ]
    response = api.post(reverse("api:documents"), {"files": files}, format="multipart")
    assert response.status_code == 201, response.content
    created = response.json()["created"]
    assert [c["status"] for c in created] == ["queued", "queued"]

    for item in created:
        body = _poll_until_settled(api, item["document_id"])
        assert body["status"] == "ready", body["error"]
        assert body["chunk_count"] > 0 and body["progress"]["percent"] == 100
        assert body["versions"][0]["ready_at"] is not None
        assert Chunk.objects.filter(version_id=item["version_id"]).count() == body["chunk_count"]
    listed = api.get(reverse("api:documents"), {"status": "ready"}).json()
    assert listed["count"] == 2
