"""In a real browser: sign in, see the tenant and the chat area, switch tenant, sign out."""

from __future__ import annotations

import pytest

from conftest import ARTIFACTS
from governance.models import Role
from governance.tests.factories import MembershipFactory, TenantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_switch_tenant_sign_out(page, live_server, member_of):
    acme, globex = TenantFactory(name="Acme Corp"), TenantFactory(name="Globex")
    user = member_of(acme, role=Role.ADMIN, username="dana")
    MembershipFactory(tenant=globex, user=user, role=Role.MEMBER)

    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("dana")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_selector("#conversation")
    assert page.evaluate("typeof window.htmx") == "object"  # vendored, loaded offline
    assert page.locator("#tenant-select option:checked").inner_text() == "Acme Corp"
    assert "dana" in page.get_by_test_id("user-name").inner_text()
    assert page.get_by_role("link", name="API keys").is_visible()  # admin in Acme
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "home-signed-in.png"))

    with page.expect_navigation():
        page.select_option("#tenant-select", label="Globex")  # htmx posts, then redirects
    assert page.locator("#tenant-select option:checked").inner_text() == "Globex"
    assert page.get_by_role("link", name="API keys").count() == 0  # only a member in Globex
    assert "Globex" in page.locator("#conversation").inner_text()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url


def test_wrong_password_shows_an_error(page, live_server, member_of):
    member_of(TenantFactory(), username="erin")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert "didn't match" in page.get_by_role("alert").inner_text()
