"""Nothing lost when the broker fails (issue 22), against a real Redis the test starts, stops and
pauses, and a real worker: an upload and a delete made while the broker is down answer at once and
complete once it is back; a paused broker holds neither an upload nor /healthz."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.urls import reverse
from rest_framework.test import APIClient

from config.broker import broker_config
from config.models import OutboxTask
from config.outbox import outbox_sweep
from conftest import _forget_broker_pools, need_service
from governance import services as governance_services
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.models import Chunk, DocumentDeletion, DocumentVersion, VersionStatus
from tests.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TEXT = b"# Travel\n\nTrain tickets are reimbursed within thirty days of the trip."


class PrivateRedis:
    """A redis-server of this test's own, on a free port, without persistence: stopped, it is down;
    paused (SIGSTOP), it accepts connections and never answers."""

    def __init__(self, folder: Any) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            need_service("redis-server is not installed (apt-get install redis-server)")
        self.executable = str(executable)
        self.folder = folder
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)
        raise RuntimeError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def broker(tmp_path: Any, celery_env_unset: None) -> Iterator[PrivateRedis]:
    """The project's Celery app sends to a private Redis for this test (with the timeouts a Redis
    broker gets in production); the redis-server starts up."""
    from config.celery import app

    server = PrivateRedis(tmp_path)
    server.start()
    config = broker_config(server.url, tmp_path)
    keys = ("broker_url", "broker_transport_options", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update(
        broker_url=server.url, broker_transport_options=config.transport_options, result_backend=server.url
    )
    _forget_broker_pools(app)
    yield server
    server.stop()
    app.conf.update(saved)
    _forget_broker_pools(app)


@pytest.fixture
def api():
    tenant = TenantFactory()
    _, raw = governance_services.api_key_create(tenant=tenant, name="k", scopes=["ingest"], actor=Actor())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.tenant = tenant
    return client


def _upload(api):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return api.post(
        reverse("api:documents"), {"files": [SimpleUploadedFile("travel.md", TEXT)]}, format="multipart"
    )


def _version(response):
    return DocumentVersion.objects.get(pk=response.json()["created"][0]["version_id"])


def test_an_upload_while_the_broker_is_down_is_kept_and_indexed_once_it_is_back(
    api, broker, celery_worker_factory
):
    broker.stop()
    started = time.monotonic()
    response = _upload(api)
    assert response.status_code == 201, response.content  # the file and its task are both kept
    assert time.monotonic() - started < 10
    version = _version(response)
    assert version.status == VersionStatus.QUEUED
    pending = OutboxTask.objects.get(task="ingest.index_version", args=[version.pk])
    assert pending.sent_at is None and pending.last_error

    broker.start()  # back, empty: the message was never sent, so nothing is there to find
    worker = celery_worker_factory(broker.url)
    OutboxTask.objects.filter(pk=pending.pk).update(next_attempt_at=pending.created_at)  # due now
    assert outbox_sweep() == 1
    wait_for(lambda: DocumentVersion.objects.get(pk=version.pk).status == VersionStatus.READY, 60, "ready")
    wait_for(lambda: OutboxTask.objects.get(pk=pending.pk).done_at is not None, 10, "the row done")
    assert worker.process is not None and worker.process.poll() is None


def test_a_delete_while_the_broker_is_down_completes_once_it_is_back(api, broker, celery_worker_factory):
    worker = celery_worker_factory(broker.url)
    version = _version(_upload(api))
    wait_for(lambda: DocumentVersion.objects.get(pk=version.pk).status == VersionStatus.READY, 60, "ready")
    path = version.file.path
    worker.stop()
    broker.stop()

    started = time.monotonic()
    response = api.delete(reverse("api:documents_detail", args=[version.document_id]))
    assert response.status_code == 204 and time.monotonic() - started < 10
    assert not Chunk.objects.filter(tenant=api.tenant).exists()  # out of search at once
    deletion = DocumentDeletion.objects.get(document_id=version.document_id)
    assert deletion.completed_at is None and os.path.exists(path)  # the removal waits for the broker

    broker.start()
    celery_worker_factory(broker.url)
    OutboxTask.objects.filter(done_at=None).update(next_attempt_at=deletion.requested_at)
    assert outbox_sweep() == 1
    wait_for(lambda: DocumentDeletion.objects.get(pk=deletion.pk).completed_at is not None, 60, "deletion")
    assert not os.path.exists(path)
    from config.engines import index_store

    indexes = index_store(api.tenant.pk).read()
    assert len(indexes.vectors) == 0 and len(indexes.bm25) == 0


def test_a_paused_broker_holds_neither_an_upload_nor_the_health_check(api, broker, client):
    broker.pause()
    try:
        started = time.monotonic()
        health = client.get(reverse("healthz"))
        assert time.monotonic() - started < 1.5
        assert health.status_code == 503 and health.json()["checks"]["broker"]["ok"] is False

        started = time.monotonic()
        response = _upload(api)
        assert response.status_code == 201 and time.monotonic() - started < 15  # the broker timeouts
        version = _version(response)
        assert OutboxTask.objects.get(args=[version.pk]).sent_at is None
    finally:
        broker.resume()
    assert client.get(reverse("healthz")).status_code == 200
