"""In CI the suite runs on PostgreSQL and Redis; these fail (never skip) there if it does not."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

from conftest import need_service

IN_CI = bool(os.environ.get("CI"))


@pytest.mark.django_db
def test_database_is_postgresql_in_ci():
    if connection.vendor != "postgresql":
        need_service(f"the suite ran on {connection.vendor}, not PostgreSQL (set DATABASE_URL)")
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        assert cursor.fetchone()[0]


def test_broker_is_redis_in_ci():
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        need_service(
            f"the broker is {settings.CELERY_BROKER_URL.split(':')[0]}, not Redis (set CELERY_BROKER_URL)"
        )
