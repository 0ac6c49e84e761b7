"""Issue 19's critical findings, through the settings page and a real question over HTTP, with servers
on loopback that record every header they receive:

1. a tenant admin could name any server URL and any server variable as "its key": SECRET_KEY went,
   byte for byte, to a server of their choosing;
2. a tenant that named only its own URL received the site's LLM key.

LLM connections are now the operator's; a tenant's own key goes only to the connection it was given for.
"""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from assistant.models import AnswerKind, Message
from assistant.tests.openai_server import OpenAiServer
from governance.models import Role
from governance.services import Actor, api_key_create
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db

SITE_KEY = "sk-site-key-never-for-tenants"
SETTINGS_URL = reverse("assistant_admin:settings")


@pytest.fixture
def servers():
    """The site's LLM server, and a server a tenant admin controls (both record what reaches them)."""
    site, theirs = OpenAiServer(reply="Sixteen weeks [1].").start(), OpenAiServer().start()
    yield site, theirs
    site.stop()
    theirs.stop()


@pytest.fixture
def site_on_a_server(servers, settings, monkeypatch):
    """The operator answers with an OpenAI-compatible server and a key from the environment, and
    offers a second connection where each tenant brings its own key."""
    site, theirs = servers
    monkeypatch.setenv("SITE_LLM_KEY", SITE_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgres://tessera:db-password@db.internal/tessera")
    settings.TESSERA = {
        **settings.TESSERA,
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "site-model",
        "LLM_BASE_URL": site.base_url,
        "LLM_API_KEY_ENV": "SITE_LLM_KEY",
        "LLM_MAX_RETRIES": 0,
        "LLM_CONNECTIONS": {"own-key": {"base_url": theirs.base_url, "tenant_key": True, "models": ["m"]}},
        "OUTBOUND_ALLOWED_HOSTS": ["127.0.0.1"],
    }
    return site, theirs


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    return tenant


@pytest.fixture
def admin(client, tenant, member_of):
    client.force_login(member_of(tenant, role=Role.ADMIN))
    return client


def _ask(tenant):
    from django.test import Client

    _, raw = api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    response = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").post(
        reverse("api:ask"), {"question": "How long is paid parental leave?"}, content_type="application/json"
    )
    assert response.status_code == 200
    return response.json()


def _every_header(server):
    return [value for request in server.requests for value in request.headers.values()]


def test_a_tenant_admin_cannot_send_a_server_variable_to_a_server_they_choose(
    site_on_a_server, tenant, admin
):
    site, theirs = site_on_a_server
    admin.post(
        SETTINGS_URL,
        {
            "llm_connection": "",
            "llm_provider": "openai",
            "llm_base_url": theirs.base_url,
            "llm_api_key_env": "SECRET_KEY",
        },
    )
    answer = _ask(tenant)
    assert theirs.requests == []  # nothing at all reached the tenant admin's server
    (request,) = site.completions
    assert request.headers["authorization"] == f"Bearer {SITE_KEY}"  # the site's own server and key
    headers = " ".join(_every_header(site))
    assert django_settings.SECRET_KEY not in headers and "db-password" not in headers
    assert answer["kind"] == AnswerKind.ANSWERED


def test_the_sites_key_never_goes_to_a_tenants_connection(site_on_a_server, tenant, admin):
    site, theirs = site_on_a_server
    admin.post(SETTINGS_URL, {"llm_connection": "own-key"})
    answer = _ask(tenant)  # no key of its own yet: no request, and no one else's key instead
    assert theirs.requests == [] and site.requests == []
    assert answer["kind"] == AnswerKind.EXTRACTIVE and "API key" in answer["usage"]["fallback_reason"]
    admin.post(SETTINGS_URL, {"llm_connection": "own-key", "api_key": "sk-tenant-own"})
    _ask(tenant)
    (request,) = theirs.completions
    assert request.headers["authorization"] == "Bearer sk-tenant-own"
    assert SITE_KEY not in " ".join(_every_header(theirs)) and site.requests == []


def test_a_tenants_key_stays_with_its_tenant(site_on_a_server, tenant, admin, member_of):
    _, theirs = site_on_a_server
    admin.post(SETTINGS_URL, {"llm_connection": "own-key", "api_key": "sk-tenant-own"})
    other = TenantFactory()
    ingest_now(other, "handbook.md", HANDBOOK.encode())
    from assistant.tenant_settings.services import assistant_settings_update

    assistant_settings_update(tenant=other, actor=Actor(), values={"llm_connection": "own-key"})
    answer = _ask(other)
    assert theirs.requests == [] and answer["kind"] == AnswerKind.EXTRACTIVE
    assert "sk-tenant-own" not in Message.objects.get(pk=answer["id"]).fallback_reason
