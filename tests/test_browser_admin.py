"""In a real browser: an admin walks the members, settings, intents and audit pages (axe on each,
screenshots kept); a member gets 403 on each admin page; tenant A's admin gets 404 on tenant B's
objects."""

from __future__ import annotations

import pytest

from assistant import tasks
from assistant.models import IntentExample, IntentModelStatus, IntentModelVersion
from assistant.routing.intents import intent_example_add, tenant_intent_add
from assistant.routing.training import intent_model_train_or_fail
from assistant.tests.conftest import intent_training  # noqa: F401 - the fast training path
from conftest import ARTIFACTS
from governance.models import Membership, Role
from governance.services import Actor, member_create
from governance.tests.factories import AccessGroupFactory, TenantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ADMIN_PAGES = [
    "/settings/members/",
    "/settings/assistant/",
    "/settings/intents/",
    "/settings/audit/",
    "/settings/groups/",
    "/settings/api-keys/",
]


def _sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")


def _shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)


def test_an_admin_walks_members_settings_intents_and_audit(page, live_server, member_of, axe):
    tenant = TenantFactory(name="Acme Corp")
    member_of(tenant, role=Role.ADMIN, username="dana")
    member_of(tenant, role=Role.MEMBER, username="sam")
    group = AccessGroupFactory(tenant=tenant, name="HR")
    _sign_in(page, live_server, "dana")

    # members: promote sam, create a user and see the one-time password, the last-admin guard
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Members").click()
    page.wait_for_url("**/settings/members/")
    axe(page)
    page.get_by_label("Role of sam", exact=True).select_option("admin")
    page.get_by_role("button", name="Save the role of sam").click()
    assert "sam is now admin" in page.get_by_role("status").first.inner_text()
    page.get_by_label("New username").fill("newbie")
    page.get_by_role("button", name="Create user").click()
    assert page.get_by_test_id("new-password").locator("code").inner_text()
    assert Membership.objects.get(user__username="newbie").role == Role.MEMBER
    axe(page)
    _shot(page, "members")
    page.get_by_label("Role of sam", exact=True).select_option("member")
    page.get_by_role("button", name="Save the role of sam").click()
    page.get_by_label("Role of dana", exact=True).select_option("member")
    page.get_by_role("button", name="Save the role of dana").click()
    assert "at least one administrator" in page.get_by_test_id("members-error").inner_text()
    # invite: a blank name is refused at its field; any name gets the same neutral answer
    page.get_by_role("button", name="Send invitation").click()
    assert page.locator("#id_invite-invitee_error").inner_text()
    assert "id_invite-invitee_error" in page.get_by_label("Email or username").get_attribute(
        "aria-describedby"
    )
    page.get_by_label("Email or username").fill("ghost")
    page.get_by_role("button", name="Send invitation").click()
    assert "they will see the invitation" in page.get_by_role("status").first.inner_text()
    assert page.get_by_test_id("invitations").get_by_text("ghost").is_visible()
    axe(page)

    # groups: put sam in HR, then take him out again
    page.get_by_role("link", name="Groups").click()
    page.get_by_role("link", name="HR").click()
    axe(page)
    page.get_by_label("sam (Member)").check()
    page.get_by_role("button", name="Save members").click()
    assert [m.user.username for m in group.members.all()] == ["sam"]
    page.get_by_label("sam (Member)").uncheck()
    page.get_by_role("button", name="Save members").click()
    assert group.members.count() == 0

    # settings: a key for a connection that uses the server's own is refused at its field, then a
    # valid save (the connection is chosen by name: no URL and no server variable can be typed)
    page.get_by_role("link", name="Settings").click()
    page.wait_for_url("**/settings/assistant/")
    axe(page)
    page.get_by_label("Language model").select_option("extractive")
    page.get_by_label("Your API key for this connection").fill("sk-not-wanted")
    page.get_by_role("button", name="Save settings").click()
    assert "own key" in page.locator("#id_api_key_error").inner_text()
    assert page.get_by_label("Your API key for this connection").input_value() == ""  # never echoed
    axe(page)
    page.get_by_label("Answer cache threshold").fill("0.95")
    page.get_by_role("button", name="Save settings").click()
    assert "Settings saved." in page.get_by_role("status").first.inner_text()
    _shot(page, "settings")

    # intents: add one, label examples, see a trained version's evaluation
    page.get_by_role("link", name="Intents").click()
    page.wait_for_url("**/settings/intents/")
    axe(page)
    page.get_by_label("Name", exact=True).fill("canteen")
    page.get_by_label("Reply", exact=True).fill("The menu is on the intranet.")
    page.get_by_role("button", name="Add intent").click()
    for text in ("what is for lunch", "lunch menu", "lunch at noon?"):
        page.get_by_label("Example message").fill(text)
        page.get_by_label("Label", exact=True).select_option("canteen")
        page.get_by_role("button", name="Add example").click()
    assert IntentExample.objects.filter(tenant=tenant, label="canteen").count() == 3
    assert page.get_by_test_id("intent-canteen").is_visible()
    axe(page)
    _shot(page, "intents")
    IntentModelVersion.objects.create(
        tenant=tenant, number=1, status=IntentModelStatus.READY,
        accuracy=0.9, oos_recall=0.8, oos_precision=0.75,
        evaluation={"labels": ["canteen", "question"], "confusion": [[3, 0], [1, 4]]},
    )  # fmt: skip
    page.goto(f"{live_server.url}/settings/intents/versions/1/")
    assert page.get_by_test_id("accuracy").inner_text() == "0.900"
    assert page.get_by_test_id("confusion").locator("tbody tr").count() == 2
    axe(page)
    page.get_by_role("button", name="Activate version 1").click()
    assert "Version 1 is now" in page.get_by_role("status").first.inner_text()
    _shot(page, "intent-version")

    # audit: what was done above, filtered, and its CSV export link keeps the filter
    page.get_by_role("link", name="Audit").click()
    page.wait_for_url("**/settings/audit/")
    axe(page)
    page.get_by_label("Action", exact=True).fill("membership.")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    assert rows.count() == 2  # sam promoted, then back; dana's own demotion was refused
    assert "membership.role_change" in rows.first.inner_text()
    assert "settings.update" not in page.locator("tbody").inner_text()
    assert "action=membership." in page.get_by_test_id("audit-export").get_attribute("href")
    axe(page)
    _shot(page, "audit")


def test_a_member_gets_403_on_every_admin_page(page, live_server, member_of, axe):
    tenant = TenantFactory(name="Acme Corp")
    member_of(tenant, role=Role.MEMBER, username="sam")
    _sign_in(page, live_server, "sam")
    assert page.get_by_role("navigation", name="Administration").count() == 0
    for path in ADMIN_PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 403, path
        assert "administrators" in page.get_by_role("alert").inner_text()
    axe(page)


def test_tenant_a_admin_gets_404_on_tenant_b_objects(page, live_server, member_of):
    acme, globex = TenantFactory(name="Acme Corp"), TenantFactory(name="Globex")
    member_of(acme, role=Role.ADMIN, username="dana")
    theirs = Membership.objects.get(user=member_of(globex, role=Role.MEMBER, username="gus"))
    group = AccessGroupFactory(tenant=globex)
    IntentModelVersion.objects.create(tenant=globex, number=1, status=IntentModelStatus.READY)
    _sign_in(page, live_server, "dana")
    for path in (f"/settings/groups/{group.pk}/", "/settings/intents/versions/1/"):
        assert page.goto(f"{live_server.url}{path}").status == 404, path
    # a forged POST on their membership (with this session's CSRF token) is a 404 too
    page.goto(f"{live_server.url}/settings/members/")
    token = page.locator("input[name=csrfmiddlewaretoken]").first.get_attribute("value")
    response = page.request.post(
        f"{live_server.url}/settings/members/{theirs.pk}/role/",
        form={"role": "admin", "csrfmiddlewaretoken": token},
        headers={"Referer": f"{live_server.url}/settings/members/"},
    )
    assert response.status == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.MEMBER


@pytest.mark.usefixtures("intent_training")
def test_retrain_page_polls_until_the_version_is_trained(page, live_server, member_of, monkeypatch, axe):
    tenant = TenantFactory(name="Acme Corp")
    member_of(tenant, role=Role.ADMIN, username="dana")
    tenant_intent_add(tenant=tenant, actor=Actor(label="setup"), name="canteen", reply="See the menu.")
    for text in ("what is for lunch", "lunch menu today", "is lunch served at noon"):
        intent_example_add(tenant=tenant, actor=Actor(label="setup"), text=text, label="canteen")
    queued = []
    monkeypatch.setattr(
        tasks.train_intent_model_task, "apply_async", lambda args=(), **options: queued.extend(args)
    )  # a worker that has not started
    _sign_in(page, live_server, "dana")
    page.goto(f"{live_server.url}/settings/intents/")
    page.get_by_role("button", name="Retrain").click()
    page.wait_for_url("**/settings/intents/versions/1/")
    panel = page.get_by_test_id("version-panel")
    assert panel.get_attribute("data-status") == "training" and queued
    axe(page)
    assert intent_model_train_or_fail(queued[0]) == IntentModelStatus.READY  # the worker's turn
    page.locator("[data-testid=version-panel][data-status=ready]").wait_for(timeout=10_000)  # htmx polled it
    assert page.get_by_test_id("confusion").is_visible()
    axe(page)
    _shot(page, "intent-retrained")
    page.get_by_role("button", name="Activate version 1").click()
    assert IntentModelVersion.objects.get(tenant=tenant, number=1).status == IntentModelStatus.ACTIVE


def test_a_created_user_signs_in_with_the_one_time_password_then_chooses_their_own(page, live_server, axe):
    tenant = TenantFactory(name="Acme Corp")
    _, password = member_create(
        tenant=tenant, username="newbie", role=Role.MEMBER, actor=Actor(label="setup")
    )
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/accounts/password/")
    assert "one-time password" in page.get_by_test_id("password-change-required").inner_text()
    axe(page)
    page.get_by_label("Old password").fill(password)
    page.get_by_label("New password", exact=True).fill("Tr0ub4dor&3x")
    page.get_by_label("New password confirmation").fill("something else")
    page.get_by_role("button", name="Change password").click()
    assert "didn\u2019t match" in page.locator("#id_new_password2_error").inner_text()
    axe(page)
    _shot(page, "password-change")
    page.get_by_label("Old password").fill(password)
    page.get_by_label("New password", exact=True).fill("Tr0ub4dor&3x")
    page.get_by_label("New password confirmation").fill("Tr0ub4dor&3x")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("#conversation")
    assert "Your password was changed." in page.get_by_role("status").first.inner_text()
