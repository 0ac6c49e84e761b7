"""In Chromium, the Content-Security-Policy is enforced and nothing of Tessera's own breaks it: the
``page`` fixture (conftest.py) fails any browser test in which a violation happens; here, that the
policy does block injected code (so that watch is not vacuous), and that the API docs pages render
under it."""

from __future__ import annotations

import pytest

from governance.models import Role
from governance.tests.factories import TenantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, username, then="/"):
    page.goto(f"{live_server.url}/accounts/login/?next={then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}{then}")


def test_injected_inline_code_is_blocked_and_reported(page, live_server, member_of, csp_violations):
    member_of(TenantFactory(name="Acme Corp"), username="sam")
    _sign_in(page, live_server, "sam")
    assert not csp_violations  # the chat page itself is clean
    # As markup that slipped past escaping would: an inline handler, an inline script, a style
    # attribute and an image from elsewhere. None may run or load.
    page.evaluate(
        """() => {
        document.body.insertAdjacentHTML("beforeend",
            '<img src="/static/missing.png" onerror="window.handlerRan = 1">'
            + '<p id="styled" style="color: rgb(255, 0, 0)">x</p>'
            + '<img src="https://example.com/beacon.png">');
        const script = document.createElement("script");
        script.textContent = "window.scriptRan = 1";
        document.body.appendChild(script);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.evaluate("window.handlerRan") is None
    assert page.evaluate("window.scriptRan") is None
    assert page.evaluate("getComputedStyle(document.getElementById('styled')).color") != "rgb(255, 0, 0)"
    seen = "\n".join(csp_violations)
    for directive in ("script-src", "style-src", "img-src"):
        assert directive in seen, f"no {directive} violation reported:\n{seen}"
    csp_violations.clear()  # expected ones: the fixture must not fail the test for them


def test_swagger_ui_renders_the_schema_under_the_policy(page, live_server, member_of):
    member_of(TenantFactory(name="Acme Corp"), role=Role.ADMIN, username="dana")
    _sign_in(page, live_server, "dana", then="/api/docs/")
    page.get_by_text("/api/v1/ask/", exact=True).first.wait_for()
    assert page.get_by_role("heading", name="Tessera API").first.is_visible()
    # (No violation: the page fixture checks at the end.)


def test_redoc_renders_the_schema_under_its_policy(page, live_server, member_of, csp_violations):
    member_of(TenantFactory(name="Acme Corp"), username="sam")
    _sign_in(page, live_server, "sam", then="/api/redoc/")
    page.get_by_text("/api/v1/ask/").first.wait_for(timeout=30_000)
    page.wait_for_timeout(300)
    # ReDoc always asks its vendor's CDN for a logo: blocked, by design (Tessera works offline and
    # calls no third party). Nothing else may be.
    unexpected = [v for v in csp_violations if "https://cdn.redoc.ly/redoc/logo-mini.svg" not in v]
    assert not unexpected, "\n".join(unexpected)
    csp_violations.clear()
