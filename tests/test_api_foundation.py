"""What every API endpoint shares: scopes declared, errors as problems, the audit row of each call,
rate limits per key, request size limits, and the schema with its offline docs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from governance import services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _api_views() -> dict[str, Any]:
    """Every view class served under /api/v1/ and /v1/, by route."""
    found: dict[str, Any] = {}

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif prefix.startswith(("api/v1/", "v1/")):
                callback = pattern.callback
                found[prefix + str(pattern.pattern)] = getattr(callback, "cls", None) or getattr(
                    callback, "view_class", None
                )

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_view_declares_its_scope():
    views = _api_views()
    assert "api/v1/me/" in views and "api/v1/ask/" in views
    undeclared = [route for route, cls in views.items() if cls is None or not hasattr(cls, "required_scope")]
    assert not undeclared, f"API views without required_scope: {undeclared}"


def test_a_view_that_forgets_its_scope_is_refused():
    class Forgetful(APIView):
        def get(self, request):
            return Response({"ok": True})

    _, raw = services.api_key_create(tenant=TenantFactory(), name="k", scopes=["admin"], actor=Actor())
    request = APIRequestFactory().get("/api/v1/forgetful/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert Forgetful.as_view()(request).status_code == 403


def _key(scopes=("ask",), tenant=None):
    return services.api_key_create(tenant=tenant or TenantFactory(), name="k", scopes=scopes, actor=Actor())


def test_every_call_is_audited_with_key_route_and_status_and_no_secret(client):
    api_key, raw = _key()
    response = client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="api.call")
    assert (event.tenant_id, event.actor_api_key_id) == (api_key.tenant_id, api_key.pk)
    assert event.extra == {"method": "GET", "route": "/api/v1/me/", "status": 200}
    assert raw.split("_")[-1] not in json.dumps(event.extra) + event.actor_label


def test_a_wrong_secret_for_a_real_key_is_audited_in_its_tenant(client):
    api_key, raw = _key()
    response = client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {raw}x")
    assert response.status_code == 401
    event = AuditEvent.objects.get(action="api.call")
    assert event.tenant_id == api_key.tenant_id and event.extra["status"] == 401


def test_a_key_nobody_owns_is_refused_without_an_audit_row(client):
    response = client.get(reverse("api:me"), HTTP_AUTHORIZATION="Bearer tsk_nothere_secret")
    assert response.status_code == 401
    assert not AuditEvent.objects.filter(action="api.call").exists()


def test_a_body_over_the_limit_is_refused_before_it_is_read(client):
    _, raw = _key()
    response = client.post(
        reverse("api:ask"),
        data=json.dumps({"question": "hello"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
        CONTENT_LENGTH=str(5 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "request_too_large"
    assert AuditEvent.objects.get(action="api.call").extra["status"] == 413


def test_rate_limit_per_key_answers_429_with_retry_after(client, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"api": "3/minute"},
    }
    _, raw = _key()
    _, other = _key()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    statuses = [client.get(reverse("api:me"), **auth).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another key has its own budget.
    assert client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 200


def test_session_requests_need_the_csrf_token(member_of):
    user = member_of(TenantFactory())
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get(reverse("api:me")).status_code == 200
    refused = browser.post(reverse("api:ask"), {"question": "What is our leave policy?"}, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]


def test_the_schema_documents_errors_as_problems(client):
    _, raw = _key()
    response = client.get(
        reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert response.status_code == 200
    schema = response.json()
    me = schema["paths"]["/api/v1/me/"]["get"]
    assert "application/problem+json" in me["responses"]["401"]["content"]
    assert "Problem" in schema["components"]["schemas"]
    assert {"ApiKey"} <= set(schema["components"]["securitySchemes"])


@pytest.mark.parametrize("name", ["api-docs", "api-redoc"])
def test_the_docs_are_served_without_a_cdn(client, member_of, name):
    client.force_login(member_of(TenantFactory()))
    response = client.get(reverse(name))
    assert response.status_code == 200
    html = response.content.decode()
    assert "drf_spectacular_sidecar" in html
    assert "cdn." not in html and "unpkg" not in html and "googleapis" not in html


def test_an_unknown_format_is_a_404_problem_not_a_bare_detail(client):
    _, raw = _key()
    response = client.get(reverse("api:me") + "?format=xyz", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "not_found"


def test_the_schema_generates_without_a_warning(tmp_path):
    # Two serializers with one component name, or a view drf-spectacular cannot read, would publish
    # a wrong schema (one component silently replacing the other): that is an error here.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "schema.yml"))


@pytest.mark.parametrize("page_size", ["abc", "0", "101", "-1", "", "1.5"])
def test_a_page_size_out_of_range_is_a_400(client, page_size):
    _, raw = _key()
    response = client.get(f"/api/v1/conversations/?page_size={page_size}", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 400
    assert "page_size" in response.json()["detail"]


def test_pages_are_sized_as_asked(client):
    _, raw = _key()
    response = client.get("/api/v1/conversations/?page_size=100", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json()["count"] == 0
