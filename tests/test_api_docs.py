"""The API's schema and its docs are for members and API keys unless the operator publishes them
(TESSERA_PUBLIC_API_DOCS=1); the docs pages hold under the Content-Security-Policy."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from governance import services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

DOCS = ["schema", "api-docs", "api-redoc"]
OPENAPI = "application/vnd.oai.openapi+json"


@pytest.fixture
def public_docs(settings: Any) -> None:
    settings.TESSERA = {**settings.TESSERA, "PUBLIC_API_DOCS": True}


def _key() -> str:
    _, raw = services.api_key_create(
        tenant=TenantFactory.create(), name="k", scopes=["search"], actor=Actor()
    )
    return raw


def test_an_anonymous_client_gets_no_schema(client):
    audited = AuditEvent.objects.count()
    response = client.get(reverse("schema"), HTTP_ACCEPT=OPENAPI)
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_authenticated"
    assert "paths" not in response.json() and "/api/v1/" not in response.content.decode()
    assert AuditEvent.objects.count() == audited  # no tenant to write it to


@pytest.mark.parametrize("name", ["api-docs", "api-redoc"])
def test_an_anonymous_browser_is_sent_to_sign_in_for_the_docs(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={reverse(name)}"


def test_the_swagger_start_up_script_is_not_public_either(client):
    response = client.get(reverse("api-docs") + "?script=")
    assert response.status_code == 302
    assert "SwaggerUIBundle" not in response.content.decode()


def test_a_wrong_key_is_a_401(client):
    response = client.get(reverse("schema"), HTTP_AUTHORIZATION="Bearer tsk_nope_nope")
    assert response.status_code == 401


@pytest.mark.parametrize("name", DOCS)
def test_a_signed_in_member_reads_the_schema_and_the_docs(client, member_of, name):
    client.force_login(member_of(TenantFactory()))
    response = client.get(reverse(name), HTTP_ACCEPT=OPENAPI if name == "schema" else "text/html")
    assert response.status_code == 200
    if name == "schema":
        assert "/api/v1/ask/" in response.json()["paths"]


def test_a_signed_in_user_of_no_workspace_is_refused(client):
    client.force_login(UserFactory())
    assert client.get(reverse("schema"), HTTP_ACCEPT=OPENAPI).status_code == 403


@pytest.mark.parametrize("name", DOCS)
def test_an_api_key_of_any_scope_reads_the_schema_and_the_docs(client, name):
    response = client.get(reverse(name), HTTP_AUTHORIZATION=f"Bearer {_key()}")
    assert response.status_code == 200


@pytest.mark.parametrize("name", DOCS)
def test_the_operator_may_publish_them(client, public_docs, name):
    response = client.get(reverse(name), HTTP_ACCEPT=OPENAPI if name == "schema" else "text/html")
    assert response.status_code == 200


def test_the_swagger_page_needs_no_inline_script_or_style(client, member_of):
    client.force_login(member_of(TenantFactory()))
    page = client.get(reverse("api-docs"))
    html = page.content.decode()
    assert "<style" not in html and "style=" not in html
    assert "<script>" not in html and "?script=" in html  # the start-up script is a file of its own
    header = page["Content-Security-Policy"]
    assert "script-src 'self'" in header and "style-src 'self'" in header and "unsafe" not in header
    script = client.get(reverse("api-docs") + "?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_redoc_gets_inline_styles_and_blob_workers_but_no_inline_script(client, member_of):
    client.force_login(member_of(TenantFactory()))
    page = client.get(reverse("api-redoc"))
    header = page["Content-Security-Policy"]
    policy = {name: sources for name, *sources in (p.split() for p in header.split(";") if p.strip())}
    assert policy["script-src"] == ["'self'"]
    assert set(policy["style-src"]) == {"'self'", "'unsafe-inline'"}
    assert set(policy["worker-src"]) == {"'self'", "blob:"}
    assert "unsafe-eval" not in header and "<script>" not in page.content.decode()
