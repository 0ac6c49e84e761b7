"""A dependency that is down (the database, the broker) is a 503 problem the client may retry."""

from __future__ import annotations

import kombu.exceptions
import pytest
from django import db

from config.api_errors import api_exception_handler


@pytest.mark.parametrize(
    "error",
    [
        db.OperationalError("could not connect to server: timeout expired"),
        kombu.exceptions.OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
    ],
)
def test_a_dependency_that_is_down_is_a_503_problem_with_retry_after(error, rf):
    request = rf.get("/api/documents/")
    response = api_exception_handler(error, {"request": request})
    assert response is not None and response.status_code == 503
    assert response.content_type == "application/problem+json" and response["Retry-After"] == "30"
    assert response.data["code"] == "service_unavailable"
    assert "6379" not in str(response.data) and "timeout expired" not in str(response.data)  # no internals


def test_a_bug_stays_a_500(rf):
    assert api_exception_handler(ValueError("a bug"), {"request": rf.get("/api/documents/")}) is None


def test_redis_broker_and_cache_wait_seconds_at_most_and_other_backends_are_untouched(tmp_path):
    from config.broker import broker_config, cache_config

    redis_options = broker_config("redis://127.0.0.1:6379/0", tmp_path).transport_options
    assert redis_options["socket_connect_timeout"] == 2.0 and redis_options["socket_timeout"] == 5.0
    assert "socket_timeout" not in broker_config("amqp://guest@127.0.0.1//", tmp_path).transport_options
    redis_cache = cache_config(
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://x"}
    )
    assert redis_cache["OPTIONS"] == {"socket_connect_timeout": 2.0, "socket_timeout": 2.0}
    files = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": "/tmp/c"}
    assert cache_config(files) == files
