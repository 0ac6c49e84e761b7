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
