"""`manage.py bootstrap_demo`: the demo workspace, its admin and a sample document, once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from governance.models import Membership, Tenant
from ingest.models import Document

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_workspace_gets_an_owner_and_one_sample_document(settings, tmp_path):
    call_command("bootstrap_demo")
    call_command("bootstrap_demo")  # again: nothing is duplicated
    tenant = Tenant.objects.get(slug=settings.TESSERA["DEMO_TENANT_SLUG"])
    assert Membership.objects.filter(tenant=tenant, role="owner").count() == 1
    (document,) = Document.objects.filter(tenant=tenant)
    assert document.versions.count() == 1  # queued for the worker
    assert (settings.DATA_DIR / "demo-credentials.txt").exists()
