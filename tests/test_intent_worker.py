"""A tenant router trained by a real Celery worker, then activated and loaded by this process: the
worker writes the file and the evaluation, the web side only reads the active version's id."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from assistant.models import IntentModelStatus, IntentModelVersion
from assistant.routing.intents import (
    intent_example_add,
    intent_model_activate,
    intent_model_retrain,
    tenant_intent_add,
)
from assistant.routing.tenant_router import reset_tenant_routers, tenant_router
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADMIN = Actor(label="admin")


def test_a_worker_trains_a_candidate_that_this_process_routes_with_once_active(
    celery_worker_factory, settings, tmp_path
):
    settings.TESSERA = {**settings.TESSERA, "MODELS_DIR": str(tmp_path / "models")}
    reset_tenant_routers()
    tenant = TenantFactory()
    tenant_intent_add(tenant=tenant, actor=ADMIN, name="canteen", reply="See the menu.")
    for text in ["what is for lunch", "lunch menu today", "is lunch served at noon"]:
        intent_example_add(tenant=tenant, actor=ADMIN, text=text, label="canteen")
    version = intent_model_retrain(tenant=tenant, actor=ADMIN, enqueue=False)
    worker = celery_worker_factory(settings.CELERY_BROKER_URL)  # the fake embedder, as this process
    worker.client.send_task("assistant.train_intent_model", args=[version.pk])

    deadline = time.monotonic() + 240
    while IntentModelVersion.objects.get(pk=version.pk).status == IntentModelStatus.TRAINING:
        if time.monotonic() > deadline:
            pytest.fail("the worker did not finish the training")
        time.sleep(0.5)
    version.refresh_from_db()
    assert version.status == IntentModelStatus.READY, version.error
    assert version.example_counts["tenant"] == 3 and "canteen" in version.evaluation["labels"]
    path = Path(settings.TESSERA["MODELS_DIR"]) / version.file_path
    assert hashlib.sha256(path.read_bytes()).hexdigest() == version.sha256
    assert tenant_router(tenant.pk) is None  # a candidate routes nothing

    intent_model_activate(tenant=tenant, actor=ADMIN, number=version.number)
    router = tenant_router(tenant.pk)
    assert router is not None and "canteen" in router.labels and router.info["version"] == version.number
    reset_tenant_routers()
