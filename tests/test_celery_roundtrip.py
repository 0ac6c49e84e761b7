"""A real task goes broker -> real worker process -> result backend, embedded and on Redis."""

from __future__ import annotations

import pytest

from config.broker import EMBEDDED_BROKER_URL

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _round_trip(worker):
    result = worker.client.send_task("tessera.ping", args=["hello"])
    value = result.get(timeout=30)
    assert value["pong"] == "hello"
    assert value["pid"] != __import__("os").getpid()  # it ran in another process


def test_round_trip_on_embedded_broker(celery_worker_factory):
    _round_trip(celery_worker_factory(EMBEDDED_BROKER_URL))


def test_round_trip_on_redis(celery_worker_factory, redis_url):
    _round_trip(celery_worker_factory(redis_url))


def test_app_settings_are_safe():
    from config.celery import app

    assert app.conf.task_serializer == "json" and app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True and app.conf.task_reject_on_worker_lost is True
    assert "tessera.ping" in app.tasks
