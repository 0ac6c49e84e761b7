"""The outbox: a task is sent if and only if its transaction commits, a broker that refuses leaves it
pending (quickly, never an error), the sweeper sends it later, and a worker's success marks it done."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from config import outbox
from config.models import OutboxTask
from config.outbox import MAX_SENDS, outbox_add, outbox_done, outbox_sweep
from conftest import _forget_broker_pools

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager(settings):
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = True
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = False


@pytest.fixture
def refusing_broker(celery_env_unset):
    """The project's app pointed at a port nothing listens on (a broker that is down)."""
    from config.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "broker_transport_options")}
    app.conf.update(broker_url="redis://127.0.0.1:1/0", broker_transport_options={})
    _forget_broker_pools(app)
    yield app
    app.conf.update(saved)
    _forget_broker_pools(app)


def _failing_change():
    with transaction.atomic():
        outbox_add("tessera.ping", "x")
        raise RuntimeError("the change failed")


def test_nothing_is_sent_when_the_transaction_rolls_back(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        _failing_change()
    assert callbacks == [] and not OutboxTask.objects.exists()


def test_a_committed_task_is_sent_and_marked_done_when_the_worker_succeeds(
    eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        row = outbox_add("tessera.ping", "x")
    row.refresh_from_db()
    assert (row.attempts, row.sends, row.last_error) == (1, 1, "")
    assert row.sent_at is not None and row.done_at is not None
    assert not OutboxTask.objects.filter(done_at=None).exists()


def test_a_broker_that_refuses_leaves_the_row_pending_quickly_and_the_sweeper_sends_it_later(
    refusing_broker, django_capture_on_commit_callbacks
):
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        row = outbox_add("tessera.ping", "x")
    assert time.monotonic() - started < 8  # one try within the broker's connect timeout
    row.refresh_from_db()
    assert row.sent_at is None and row.done_at is None and "Connection refused" in row.last_error
    assert row.next_attempt_at > timezone.now()  # backoff: not due yet
    assert outbox_sweep() == 0

    refusing_broker.conf.task_always_eager = True  # the broker is back (and runs the task here)
    try:
        OutboxTask.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now())
        assert outbox_sweep() == 1
    finally:
        refusing_broker.conf.task_always_eager = False
    row.refresh_from_db()
    assert row.attempts == 2 and row.sends == 1 and row.done_at is not None


def test_a_task_no_worker_finished_is_sent_again_and_given_up_after_max_sends(eager, monkeypatch):
    sent = []
    monkeypatch.setattr(outbox, "_send", lambda row: sent.append(row.pk) or True)
    long_ago = timezone.now() - timedelta(days=1)
    lost = OutboxTask.objects.create(task="tessera.ping", sent_at=long_ago, sends=1, next_attempt_at=long_ago)
    hopeless = OutboxTask.objects.create(
        task="tessera.ping", sent_at=long_ago, sends=MAX_SENDS, next_attempt_at=long_ago
    )
    later = OutboxTask.objects.create(
        task="tessera.ping", next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert outbox_sweep() == 1 and sent == [lost.pk]
    hopeless.refresh_from_db()
    assert hopeless.done_at is not None and hopeless.last_error.startswith("given up")
    later.refresh_from_db()
    assert later.done_at is None
    finished_long_ago = OutboxTask.objects.create(task="tessera.ping", done_at=long_ago - timedelta(days=7))
    outbox_sweep()
    assert not OutboxTask.objects.filter(pk=finished_long_ago.pk).exists()
    assert OutboxTask.objects.filter(pk=hopeless.pk).exists()  # finished today: kept


def test_only_an_outbox_task_id_marks_a_row_done():
    row = OutboxTask.objects.create(task="tessera.ping")
    outbox_done("some-other-task-id")
    outbox_done(None)
    assert OutboxTask.objects.get(pk=row.pk).done_at is None
    outbox_done(f"outbox-{row.pk}-3")
    assert OutboxTask.objects.get(pk=row.pk).done_at is not None
