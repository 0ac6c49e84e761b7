"""/healthz reports database, broker and data directory; 503 when one is down."""

from __future__ import annotations

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
