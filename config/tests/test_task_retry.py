"""The one retry rule of the row-failing Celery tasks (indexing, router training)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest
from django.db import OperationalError

from config.task_retry import backoff_s, run_or_fail


class Retry(Exception):
    pass


class FakeTask:
    """What ``run_or_fail`` uses of a bound Celery task."""

    def __init__(self, retries: int, max_retries: int = 3) -> None:
        self.request = SimpleNamespace(retries=retries)
        self.max_retries = max_retries
        self.countdowns: list[int] = []

    def retry(self, *, exc: BaseException, countdown: int) -> Retry:
        self.countdowns.append(countdown)
        return Retry(str(exc))


def _raise(exc: BaseException) -> Callable[[], str]:
    def job() -> str:
        raise exc

    return job


def test_a_job_that_works_returns_its_result_and_fails_nothing():
    failed: list[str] = []
    assert (
        run_or_fail(
            FakeTask(0), lambda: "indexed", failed.append, action="Indexing", ref="version=1", crashed="x"
        )
        == "indexed"
    )
    assert failed == []


def test_a_transient_error_is_retried_with_backoff_then_fails_the_row():
    failed: list[str] = []
    task = FakeTask(retries=1)
    with pytest.raises(Retry):
        run_or_fail(
            task,
            _raise(OperationalError("db gone")),
            failed.append,
            action="Indexing",
            ref="version=1",
            crashed="x",
        )
    assert task.countdowns == [4] and failed == []
    last = FakeTask(retries=3)
    result = run_or_fail(
        last,
        _raise(OSError(28, "No space left")),
        failed.append,
        action="Indexing",
        ref="version=1",
        crashed="x",
    )
    assert result == "failed"
    assert failed == ["Indexing failed after 3 retries (OSError)."]


def test_a_bug_fails_the_row_at_once_with_its_own_reason():
    failed: list[str] = []
    task = FakeTask(retries=0)
    result = run_or_fail(
        task,
        _raise(KeyError("bug")),
        failed.append,
        action="Training",
        ref="version=7",
        crashed="Training failed: a bug.",
    )
    assert result == "failed" and failed == ["Training failed: a bug."] and task.countdowns == []


def test_backoff_doubles_up_to_five_minutes():
    assert [backoff_s(n) for n in range(10)] == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
