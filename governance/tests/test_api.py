"""API keys over HTTP: the key resolves to its tenant; a wrong or revoked key is a 401."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance import services
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_key_resolves_to_its_tenant(client):
    tenant = TenantFactory(slug="acme")
    _, raw = services.api_key_create(tenant=tenant, name="bot", scopes=["ask", "search"], actor=Actor())
    response = client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json() == {
        "tenant": "acme",
        "principal": response.json()["principal"],
        "scopes": ["ask", "search"],
        "is_admin": False,
    }


@pytest.mark.parametrize("header", [None, "Bearer tsk_wrong_key", "Bearer ", "Basic abc"])
def test_missing_or_wrong_key_is_401_problem(client, header):
    kwargs = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = client.get(reverse("api:me"), **kwargs)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 401


def test_revoked_key_is_401(client):
    api_key, raw = services.api_key_create(tenant=TenantFactory(), name="k", scopes=["ask"], actor=Actor())
    services.api_key_revoke(api_key=api_key, actor=Actor())
    response = client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401


def test_session_user_uses_current_tenant(client, member_of):
    tenant = TenantFactory(slug="session-co")
    client.force_login(member_of(tenant))
    assert client.get(reverse("api:me")).json()["tenant"] == "session-co"
