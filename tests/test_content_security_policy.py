"""Every app page carries a strict Content-Security-Policy (no inline script or style, no eval, no
framing) and the other security headers; the pages hold no inline script, handler or style that the
policy would block. In the browser, tests/test_browser_*.py check that no violation happens."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from governance.models import Role
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

STRICT = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "connect-src": {"'self'"},
    "font-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}
# What the policy forbids and a page could still hold: inline scripts (a <script> without src),
# inline event handlers, style attributes or elements, hx-on (evaluated by htmx), javascript: URLs.
INLINE = re.compile(
    r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=|<style|hx-on|javascript:", re.IGNORECASE
)


def policy_of(response: Any) -> dict[str, set[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    header = response.headers.get("Content-Security-Policy", "")
    assert header, f"no Content-Security-Policy on {response.wsgi_request.path}"
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: set(sources) for name, *sources in directives}


def assert_strict(response: Any) -> None:
    policy = policy_of(response)
    assert {name: policy.get(name) for name in STRICT} == STRICT
    header = response.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"


@pytest.fixture
def admin_client(client: Client, member_of: Any) -> Client:
    client.force_login(member_of(TenantFactory(name="Acme"), role=Role.ADMIN))
    return client


@pytest.mark.parametrize(
    "name",
    [
        "home",
        "ingest:documents",
        "assistant_admin:settings",
        "assistant_admin:intents",
        "usage:dashboard",
        "governance:members",
        "governance:api_keys",
        "governance:access_groups",
        "governance:audit_log",
    ],
)
def test_app_pages_send_a_strict_policy_and_hold_nothing_it_forbids(admin_client, name):
    response = admin_client.get(reverse(name))
    assert response.status_code == 200
    assert_strict(response)
    html = response.content.decode()
    assert not INLINE.findall(html), f"{name} holds what the policy blocks: {INLINE.findall(html)}"
    # htmx is told to add no <style> of its own and to evaluate nothing.
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html


def test_the_sign_in_page_sends_a_strict_policy(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert_strict(response)
    assert not INLINE.findall(response.content.decode())


def test_a_refusal_and_an_api_answer_carry_the_policy_too(client, member_of):
    client.force_login(member_of(TenantFactory()))  # a member, not an admin
    refused = client.get(reverse("usage:dashboard"))
    assert refused.status_code == 403
    assert_strict(refused)
    assert_strict(client.get(reverse("api:me")))
