"""The key rules, checked on every API operation there is (a new endpoint is covered the day it is
added): no key or a revoked key is 401, a key without the operation's scope is 403, and another
tenant's objects are 404 (in each app's API tests, which create the objects)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from governance import services
from governance.models import ApiScope
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

HANDLERS = ("get", "post", "put", "patch", "delete")


def api_operations() -> list[tuple[str, str, Any]]:
    """(method, concrete path, required scope) for every operation under /api/v1/ and /v1/."""
    operations: list[tuple[str, str, Any]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            route = prefix + str(pattern.pattern)
            view_class = getattr(pattern.callback, "cls", None)
            if not route.startswith(("api/v1/", "v1/")) or view_class is None:
                continue
            path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", "1", route)
            for method in HANDLERS:
                if hasattr(view_class, method):
                    operations.append((method, path, view_class.required_scope))

    walk(get_resolver().url_patterns, "")
    return operations


OPERATIONS = api_operations()


def _call(client: Any, method: str, path: str, key: str | None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return getattr(client, method)(path, content_type="application/json", **headers)


@pytest.mark.parametrize(("method", "path", "scope"), OPERATIONS)
def test_no_key_or_a_revoked_key_is_401(client, method, path, scope):
    api_key, raw = services.api_key_create(tenant=TenantFactory(), name="k", scopes=["admin"], actor=Actor())
    services.api_key_revoke(api_key=api_key, actor=Actor())
    for key in (None, raw, "tsk_abc_def"):
        response = _call(client, method, path, key)
        assert response.status_code == 401, (method, path, key, response.content[:200])
        assert response["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize(("method", "path", "scope"), [op for op in OPERATIONS if op[2] is not None])
def test_a_key_without_the_scope_is_403(client, method, path, scope):
    others = [s for s in ApiScope.values if s not in (scope, ApiScope.ADMIN)]
    _, raw = services.api_key_create(tenant=TenantFactory(), name="k", scopes=others, actor=Actor())
    response = _call(client, method, path, raw)
    assert response.status_code == 403, (method, path, response.content[:200])
    assert response.json()["code"] == "missing_scope"


def test_every_operation_is_covered():
    assert len(OPERATIONS) >= 2
    assert ("post", "/api/v1/ask/", "ask") in OPERATIONS
