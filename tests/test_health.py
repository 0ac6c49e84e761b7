"""/healthz reports database, broker and data directory; 503 when one is down."""

from __future__ import annotations

import threading
import time

import pytest
from django.urls import reverse

from config import health

pytestmark = pytest.mark.django_db


def test_healthy(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "data_dir": True,
    }


def test_broker_down_is_503(client, monkeypatch, celery_env_unset):
    from config.celery import app

    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.conf, "broker_transport_options", {})
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["broker"]["ok"] is False and body["checks"]["database"]["ok"] is True


def test_data_dir_unwritable_is_503(client, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "missing" / "dir"
    response = client.get(reverse("healthz"))
    assert response.status_code == 503
    assert response.json()["checks"]["data_dir"]["ok"] is False


def test_database_error_is_reported(client, monkeypatch):
    def broken() -> None:
        raise RuntimeError("database is gone")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get(reverse("healthz"))
    assert (
        response.status_code == 503 and "database is gone" in response.json()["checks"]["database"]["error"]
    )


def test_a_check_that_hangs_is_a_503_within_a_second(client, monkeypatch):
    """A paused broker (or a database that accepts and never replies) must not hold the probe."""
    release = threading.Event()

    def hangs() -> None:
        release.wait(30)

    monkeypatch.setitem(health.CHECKS, "broker", hangs)
    try:
        started = time.monotonic()
        response = client.get(reverse("healthz"))
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert response.status_code == 503 and elapsed < 1.5
    body = response.json()
    assert body["checks"]["broker"] == {"ok": False, "error": "no answer within 0.9 s"}
    assert body["checks"]["database"]["ok"] is True and body["checks"]["data_dir"]["ok"] is True
