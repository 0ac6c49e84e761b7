"""Invitations through HTTP: an admin invites by email or username and cannot tell which accounts
exist; the invited person accepts or declines, and an existing account is never pulled into a
workspace (nor switched to it) without its own say. Status, content, database and audit state."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.models import AuditEvent, Invitation, Membership, Role
from governance.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # UserFactory's
SENT = "If that person has an account or signs up with that email, they will see the invitation"


@pytest.fixture
def acme(client, member_of):
    """Acme's admin, signed in on ``client``."""
    tenant = TenantFactory(name="Acme", slug="acme")
    client.force_login(member_of(tenant, role=Role.ADMIN, username="alice"))
    client.tenant = tenant
    return client


@pytest.fixture
def erin(member_of):
    """A member of another workspace (Zeta, which sorts after Acme)."""
    zeta = TenantFactory(name="Zeta", slug="zeta")
    return member_of(zeta, role=Role.ADMIN, username="erin", email="erin@zeta.example")


def _invite(client, invitee, role="member"):
    return client.post(
        reverse("governance:member_invite"), {"invite-invitee": invitee, "invite-role": role}, follow=True
    )


def _post_with_csrf(browser, page_url, url, data=None):
    """Submit a form of ``page_url`` as a browser would: with the page's CSRF token."""
    page = browser.get(page_url).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    return browser.post(url, {"csrfmiddlewaretoken": token, **(data or {})})


def _signed_in(username):
    """A new browser (CSRF checked) that signed in with the login form."""
    browser = Client(enforce_csrf_checks=True)
    login = reverse("login")
    response = _post_with_csrf(browser, login, login, {"username": username, "password": PASSWORD})
    assert response.status_code == 302
    return browser


def _current_workspace(browser):
    home = browser.get(reverse("home"))
    return home.context["current_tenant"].name


def _actions(tenant):
    """The tenant's audit trail of members and invitations (sign-ins are audited too)."""
    events = AuditEvent.objects.filter(tenant=tenant, action__startswith="member").order_by("id")
    return list(events.values_list("action", flat=True))


def test_a_foreign_user_cannot_be_pulled_in(acme, erin):
    response = _invite(acme, "erin", role="admin")
    assert response.status_code == 200 and SENT in response.content.decode()
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    assert _current_workspace(_signed_in("erin")) == "Zeta"  # nothing switched at sign-in
    # the old direct path is gone
    old = acme.post("/settings/members/add/", {"add-username": "erin", "add-role": "member"})
    assert old.status_code == 404
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    invitation = Invitation.objects.get(tenant=acme.tenant)
    assert (invitation.invitee, invitation.user, invitation.role) == ("erin", erin, Role.ADMIN)
    assert len(invitation.token_hash) == 64 and invitation.accepted_at is None
    assert _actions(acme.tenant) == ["member.invite"]


def test_the_answer_is_the_same_whether_or_not_the_account_exists(acme, erin):
    answers = {}
    for invitee in ("erin", "ghost", "erin@zeta.example", "nobody@nowhere.example"):
        response = _invite(acme, invitee)
        answers[invitee] = (response.status_code, [str(m) for m in response.context["messages"]])
    assert len(set(map(repr, answers.values()))) == 1, answers
    assert answers["ghost"][0] == 200 and SENT in answers["ghost"][1][0]
    page = acme.get(reverse("governance:members")).content.decode()
    for invitee in answers:
        assert f"<td>{invitee}</td>" in page
    assert "No user named" not in page and "already a member" not in page and "already exists" not in page
    events = AuditEvent.objects.filter(tenant=acme.tenant, action="member.invite")
    assert {tuple(sorted(e.extra)) for e in events} == {("invitee", "renewed", "role")}  # no account in it
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()


def test_the_invited_user_accepts_becomes_a_member_and_stays_where_they_are(acme, erin):
    _invite(acme, "erin@zeta.example", role="admin")
    browser = _signed_in("erin")
    home = browser.get(reverse("home")).content.decode()
    assert 'data-testid="invitations-link"' in home and "Invitations (1)" in home
    invitations = reverse("governance:invitations")
    listed = browser.get(invitations).content.decode()
    assert "Acme" in listed and "Accept the invitation to Acme" in listed
    invitation = Invitation.objects.get(tenant=acme.tenant)
    accept = reverse("governance:invitation_accept", args=[invitation.pk])
    assert browser.post(accept).status_code == 403  # no CSRF token
    response = _post_with_csrf(browser, invitations, accept)
    assert response.status_code == 302 and response["Location"] == invitations
    membership = Membership.objects.get(tenant=acme.tenant, user=erin)
    assert membership.role == Role.ADMIN
    assert _current_workspace(browser) == "Zeta"  # the new workspace is offered, not imposed
    assert _current_workspace(_signed_in("erin")) == "Zeta"  # nor at the next sign-in
    assert "No invitation is waiting" in browser.get(invitations).content.decode()
    event = AuditEvent.objects.get(tenant=acme.tenant, action="member.invite_accept")
    assert event.actor_id == erin.pk and event.extra["membership"] == membership.pk
    assert _actions(acme.tenant) == ["member.invite", "member.invite_accept"]
    again = _post_with_csrf(browser, invitations, accept)
    assert again.status_code == 409 and b"already answered" in again.content


def test_an_invitation_for_an_account_made_later_reaches_it(acme, member_of):
    _invite(acme, "newcomer@acme.example")
    UserFactory(username="newcomer", email="NewComer@acme.example")
    browser = _signed_in("newcomer")
    assert b"No workspace" in browser.get(reverse("home")).content
    invitation = Invitation.objects.get(tenant=acme.tenant)
    assert invitation.user is None
    invitations = reverse("governance:invitations")
    accept = reverse("governance:invitation_accept", args=[invitation.pk])
    assert _post_with_csrf(browser, invitations, accept).status_code == 302
    assert _current_workspace(browser) == "Acme"  # their first and only workspace
    invitation.refresh_from_db()
    assert invitation.user.username == "newcomer" and invitation.accepted_at is not None


def test_the_invited_user_declines(acme, erin):
    _invite(acme, "erin")
    invitation = Invitation.objects.get(tenant=acme.tenant)
    browser = _signed_in("erin")
    invitations = reverse("governance:invitations")
    decline = reverse("governance:invitation_decline", args=[invitation.pk])
    response = _post_with_csrf(browser, invitations, decline)
    assert response.status_code == 302
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    invitation.refresh_from_db()
    assert invitation.declined_at is not None
    assert "No invitation is waiting" in browser.get(invitations).content.decode()
    accept = reverse("governance:invitation_accept", args=[invitation.pk])
    assert _post_with_csrf(browser, invitations, accept).status_code == 409
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    assert _actions(acme.tenant) == ["member.invite", "member.invite_decline"]
    assert "erin" not in acme.get(reverse("governance:members")).content.decode()  # no longer waiting


def test_an_expired_invitation_cannot_be_accepted(acme, erin):
    with time_machine.travel(timezone.now() - timedelta(days=15)):
        _invite(acme, "erin")
    invitation = Invitation.objects.get(tenant=acme.tenant)
    lifetime = invitation.expires_at - invitation.created_at
    assert abs(lifetime - timedelta(days=14)) < timedelta(seconds=1)
    browser = _signed_in("erin")
    assert "Invitations (" not in browser.get(reverse("home")).content.decode()
    invitations = reverse("governance:invitations")
    assert "No invitation is waiting" in browser.get(invitations).content.decode()
    accept = reverse("governance:invitation_accept", args=[invitation.pk])
    refused = _post_with_csrf(browser, invitations, accept)
    assert refused.status_code == 409 and b"expired" in refused.content
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    assert "expired" in acme.get(reverse("governance:members")).content.decode()
    _invite(acme, "erin")  # inviting again renews the same invitation
    invitation.refresh_from_db()
    assert invitation.expires_at > timezone.now() and Invitation.objects.count() == 1
    assert _post_with_csrf(browser, invitations, accept).status_code == 302
    assert Membership.objects.filter(tenant=acme.tenant, user=erin).exists()


def test_the_admin_revokes_an_invitation(acme, erin):
    _invite(acme, "erin")
    invitation = Invitation.objects.get(tenant=acme.tenant)
    revoke = reverse("governance:invitation_revoke", args=[invitation.pk])
    response = acme.post(revoke, follow=True)
    assert response.status_code == 200 and "was withdrawn" in response.content.decode()
    assert acme.post(revoke).status_code == 302  # twice is harmless
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    browser = _signed_in("erin")
    invitations = reverse("governance:invitations")
    assert "No invitation is waiting" in browser.get(invitations).content.decode()
    accept = reverse("governance:invitation_accept", args=[invitation.pk])
    refused = _post_with_csrf(browser, invitations, accept)
    assert refused.status_code == 409 and b"withdrawn" in refused.content
    assert not Membership.objects.filter(tenant=acme.tenant, user=erin).exists()
    assert _actions(acme.tenant) == ["member.invite", "member.invite_revoke"]


def test_another_tenants_or_another_persons_invitation_is_a_404(acme, erin, client, member_of):
    _invite(acme, "erin")
    invitation = Invitation.objects.get(tenant=acme.tenant)
    other_admin = Client()
    other_admin.force_login(member_of(TenantFactory(name="Other"), role=Role.ADMIN, username="olga"))
    revoke = reverse("governance:invitation_revoke", args=[invitation.pk])
    assert other_admin.post(revoke).status_code == 404
    assert b"Acme" not in other_admin.get(reverse("governance:invitations")).content
    for action in ("governance:invitation_accept", "governance:invitation_decline"):
        assert other_admin.post(reverse(action, args=[invitation.pk])).status_code == 404
    assert acme.post(reverse("governance:invitation_accept", args=[invitation.pk])).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None and not invitation.is_answered
    assert Membership.objects.filter(tenant=acme.tenant).count() == 1  # alice only
    assert _actions(acme.tenant) == ["member.invite"]


def test_invitations_need_a_name_an_assignable_role_and_an_admin(acme, client, member_of):
    blank = acme.post(reverse("governance:member_invite"), {"invite-invitee": " ", "invite-role": "member"})
    assert blank.status_code == 400 and 'id="id_invite-invitee_error"' in blank.content.decode()
    owner = acme.post(reverse("governance:member_invite"), {"invite-invitee": "x", "invite-role": "owner"})
    assert owner.status_code == 400
    member = Client()
    member.force_login(member_of(acme.tenant, role=Role.MEMBER, username="mo"))
    url = reverse("governance:member_invite")
    assert member.post(url, {"invite-invitee": "x", "invite-role": "admin"}).status_code == 403
    assert reverse("governance:invitations") != url and not Invitation.objects.exists()
    assert _actions(acme.tenant) == []
