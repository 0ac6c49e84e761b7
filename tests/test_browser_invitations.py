"""In a real browser: a member of one workspace is invited to another, finds the invitation from the
header, accepts it (axe on the page), and stays in the workspace they were in until they switch."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from governance import invitation_services
from governance.models import Membership, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_invited_member_accepts_and_chooses_when_to_switch(page, live_server, member_of, axe):
    acme, zeta = TenantFactory(name="Acme Corp"), TenantFactory(name="Zeta Labs")
    erin = member_of(zeta, role=Role.MEMBER, username="erin")
    invitation_services.member_invite(
        tenant=acme, invitee="erin", role=Role.MEMBER, actor=Actor(label="boss")
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("erin")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_test_id("tenant-name").inner_text() == "Zeta Labs"

    page.get_by_test_id("invitations-link").click()
    page.wait_for_url("**/invitations/")
    axe(page)
    page.get_by_role("button", name="Accept the invitation to Acme Corp").click()
    assert "You joined Acme Corp" in page.get_by_role("status").first.inner_text()
    assert Membership.objects.filter(tenant=acme, user=erin).exists()
    axe(page)

    page.goto(f"{live_server.url}/")
    switcher = page.get_by_label("Workspace")
    assert switcher.locator("option:checked").inner_text() == "Zeta Labs"  # offered, not imposed
    switcher.select_option(label="Acme Corp")
    # not page.wait_for_function("..."): a string predicate is eval'd in the page, which the CSP forbids
    expect(page).to_have_title(re.compile("Acme Corp"))
