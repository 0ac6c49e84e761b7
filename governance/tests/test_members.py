"""Members and roles: the services' rules (assignable roles, the last admin, owners) and the page
through HTTP (status, content, database and audit state)."""

from __future__ import annotations

import pytest
from django.contrib.auth import authenticate
from django.urls import reverse

from config.errors import ApplicationError, Conflict
from governance import invitation_services, services
from governance.models import AuditEvent, Invitation, Membership, PasswordChangeRequired, Role
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db

BOSS = Actor(label="boss")


def _actions(tenant):
    events = AuditEvent.objects.filter(tenant=tenant).exclude(action__startswith="auth.")  # sign-ins aside
    return list(events.order_by("id").values_list("action", flat=True))


def test_role_change_both_ways_is_audited():
    tenant = TenantFactory()
    MembershipFactory(tenant=tenant, role=Role.ADMIN)
    membership = MembershipFactory(tenant=tenant, role=Role.MEMBER)
    services.membership_role_change(membership=membership, role=Role.ADMIN, actor=BOSS)
    services.membership_role_change(membership=membership, role=Role.ADMIN, actor=BOSS)  # no change, no row
    services.membership_role_change(membership=membership, role=Role.MEMBER, actor=BOSS)
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER
    events = AuditEvent.objects.filter(tenant=tenant, action="membership.role_change").order_by("id")
    assert [(e.extra["from"], e.extra["to"], e.actor_label) for e in events] == [
        ("member", "admin", "boss"),
        ("admin", "member", "boss"),
    ]


@pytest.mark.parametrize("role", ["owner", "emperor", ""])
def test_only_admin_and_member_can_be_given(role):
    membership = MembershipFactory(role=Role.MEMBER)
    with pytest.raises(ApplicationError, match="Unknown role"):
        services.membership_role_change(membership=membership, role=role, actor=BOSS)
    membership.refresh_from_db()
    assert membership.role == Role.MEMBER


def test_the_last_admin_can_be_neither_demoted_nor_removed():
    tenant = TenantFactory()
    admin = MembershipFactory(tenant=tenant, role=Role.ADMIN)
    MembershipFactory(tenant=tenant, role=Role.MEMBER)
    MembershipFactory(role=Role.ADMIN)  # another tenant's admin does not count
    with pytest.raises(ApplicationError, match="at least one administrator") as demoted:
        services.membership_role_change(membership=admin, role=Role.MEMBER, actor=BOSS)
    assert demoted.value.status == 400 and demoted.value.code == "last_admin"
    with pytest.raises(ApplicationError, match="at least one administrator"):
        services.membership_remove(membership=admin, actor=BOSS)
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN and _actions(tenant) == []
    # with a second admin, the first may go
    second = MembershipFactory(tenant=tenant, role=Role.MEMBER)
    services.membership_role_change(membership=second, role=Role.ADMIN, actor=BOSS)
    services.membership_remove(membership=admin, actor=BOSS)
    assert not Membership.objects.filter(pk=admin.pk).exists()
    assert _actions(tenant) == ["membership.role_change", "membership.remove"]


def test_an_owner_counts_as_admin_and_is_not_changed_from_the_page():
    tenant = TenantFactory()
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)
    admin = MembershipFactory(tenant=tenant, role=Role.ADMIN)
    services.membership_role_change(membership=admin, role=Role.MEMBER, actor=BOSS)  # the owner remains
    with pytest.raises(ApplicationError, match="owner"):
        services.membership_remove(membership=owner, actor=BOSS)
    with pytest.raises(ApplicationError, match="owner"):
        services.membership_role_change(membership=owner, role=Role.MEMBER, actor=BOSS)
    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_removing_a_member_takes_them_out_of_groups_too():
    tenant = TenantFactory()
    MembershipFactory(tenant=tenant, role=Role.ADMIN)
    membership = MembershipFactory(tenant=tenant)
    group = AccessGroupFactory(tenant=tenant)
    group.members.add(membership)
    services.membership_remove(membership=membership, actor=BOSS)
    assert list(group.members.all()) == []
    event = AuditEvent.objects.get(tenant=tenant, action="membership.remove")
    assert event.extra == {"user": membership.user_id, "role": "member"}


def test_member_create_returns_a_working_one_time_password_never_audited():
    tenant = TenantFactory()
    membership, password = services.member_create(
        tenant=tenant, username="newbie", role=Role.MEMBER, actor=BOSS
    )
    assert len(password) >= 16
    assert authenticate(username="newbie", password=password) == membership.user
    assert membership.user.password != password  # hashed
    event = AuditEvent.objects.get(tenant=tenant, action="user.create")
    assert event.extra["username"] == "newbie" and password not in str(event.extra)
    with pytest.raises(Conflict, match="already exists"):
        services.member_create(tenant=tenant, username="newbie", role=Role.MEMBER, actor=BOSS)
    _, other = services.member_create(tenant=tenant, username="second", role=Role.MEMBER, actor=BOSS)
    assert other != password


# --- the page, through HTTP ---------------------------------------------------------------------


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory(name="Acme")
    admin = member_of(tenant, role=Role.ADMIN, username="alice")
    client.force_login(admin)
    client.tenant = tenant
    return client


def test_members_page_lists_members_with_roles(admin_client, member_of):
    member_of(admin_client.tenant, username="bob")
    member_of(TenantFactory(), username="stranger")
    page = admin_client.get(reverse("governance:members"))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="member-alice"' in html and 'data-testid="member-bob"' in html
    assert "stranger" not in html
    assert '<label for="role-' in html and 'for="id_invite-invitee"' in html


def test_page_changes_a_role_and_refuses_the_last_admin_with_a_clear_400(admin_client, member_of):
    tenant = admin_client.tenant
    bob = Membership.objects.get(user=member_of(tenant, username="bob"))
    alice = Membership.objects.get(tenant=tenant, user__username="alice")
    response = admin_client.post(reverse("governance:member_role", args=[bob.pk]), {"role": "admin"})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.role == Role.ADMIN
    admin_client.post(reverse("governance:member_role", args=[bob.pk]), {"role": "member"})
    refused = admin_client.post(reverse("governance:member_role", args=[alice.pk]), {"role": "member"})
    assert refused.status_code == 400
    assert "must keep at least one administrator" in refused.content.decode()
    alice.refresh_from_db()
    assert alice.role == Role.ADMIN
    bad = admin_client.post(reverse("governance:member_role", args=[bob.pk]), {"role": "owner"})
    assert bad.status_code == 400 and b"Choose a role" in bad.content
    removed = admin_client.post(reverse("governance:member_remove", args=[alice.pk]))
    assert removed.status_code == 400 and Membership.objects.filter(pk=alice.pk).exists()
    assert _actions(tenant) == ["membership.role_change", "membership.role_change"]


def test_page_removes_a_member(admin_client, member_of):
    bob = Membership.objects.get(user=member_of(admin_client.tenant, username="bob"))
    response = admin_client.post(reverse("governance:member_remove", args=[bob.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert "bob was removed" in admin_client.get(reverse("governance:members")).content.decode()


def test_page_creates_a_user_and_shows_the_password_once(admin_client):
    response = admin_client.post(
        reverse("governance:member_create"), {"new-username": "dave", "new-role": "admin"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="new-password"' in html
    membership = Membership.objects.get(tenant=admin_client.tenant, user__username="dave")
    assert membership.role == Role.ADMIN
    password = html.split('data-testid="new-password"')[1].split("<code>")[1].split("</code>")[0]
    assert authenticate(username="dave", password=password) == membership.user
    assert password not in admin_client.get(reverse("governance:members")).content.decode()
    bad = admin_client.post(
        reverse("governance:member_create"), {"new-username": "no spaces!", "new-role": "x"}
    )
    assert bad.status_code == 400 and not Membership.objects.filter(user__username="no spaces!").exists()


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("governance:members", "get"),
        ("governance:member_invite", "post"),
        ("governance:member_create", "post"),
    ],
)
def test_members_pages_are_for_admins_only(client, member_of, name, method):
    client.force_login(member_of(TenantFactory(), role=Role.MEMBER))
    response = getattr(client, method)(reverse(name), {"invite-invitee": "x", "new-username": "x"})
    assert response.status_code == 403
    assert not Membership.objects.filter(user__username="x").exists() and not Invitation.objects.exists()


def test_another_tenants_membership_is_a_404(admin_client):
    theirs = MembershipFactory(tenant=TenantFactory(), role=Role.MEMBER)
    assert (
        admin_client.post(reverse("governance:member_role", args=[theirs.pk]), {"role": "admin"}).status_code
        == 404
    )
    assert admin_client.post(reverse("governance:member_remove", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == Role.MEMBER


def test_group_page_adds_and_removes_members(admin_client, member_of):
    tenant = admin_client.tenant
    bob = Membership.objects.get(user=member_of(tenant, username="bob"))
    outsider = MembershipFactory(tenant=TenantFactory())
    group = AccessGroupFactory(tenant=tenant, name="Legal")
    url = reverse("governance:access_group", args=[group.pk])
    assert f'value="{bob.pk}"' in admin_client.get(url).content.decode()
    admin_client.post(url, {"members": [str(bob.pk), str(outsider.pk)]})
    assert list(group.members.all()) == [bob]  # another tenant's membership is ignored
    admin_client.post(url, {})  # nothing checked: everyone out
    assert list(group.members.all()) == []
    assert _actions(tenant).count("access_group.members_set") == 2


def test_a_one_time_password_must_be_replaced_before_anything_else(client):
    tenant = TenantFactory()
    MembershipFactory(tenant=tenant, role=Role.ADMIN)
    _, password = services.member_create(tenant=tenant, username="newbie", role=Role.MEMBER, actor=BOSS)
    assert client.post(reverse("login"), {"username": "newbie", "password": password}).status_code == 302
    for url in (reverse("home"), reverse("ingest:documents"), reverse("governance:members")):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == reverse("governance:password_change")
    page = client.get(reverse("governance:password_change"))
    assert page.status_code == 200 and b"one-time password" in page.content
    change = reverse("governance:password_change")
    wrong = client.post(
        change, {"old_password": "nope", "new_password1": "Tr0ub4dor&3x", "new_password2": "Tr0ub4dor&3x"}
    )
    assert wrong.status_code == 400 and 'id="id_old_password_error"' in wrong.content.decode()
    weak = client.post(change, {"old_password": password, "new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 400 and b"too short" in weak.content
    done = client.post(
        change, {"old_password": password, "new_password1": "Tr0ub4dor&3x", "new_password2": "Tr0ub4dor&3x"}
    )
    assert done.status_code == 302
    assert client.get(reverse("home")).status_code == 200  # still signed in, free to go
    assert authenticate(username="newbie", password=password) is None
    assert authenticate(username="newbie", password="Tr0ub4dor&3x") is not None
    assert not PasswordChangeRequired.objects.exists()


def test_an_existing_user_who_accepts_an_invitation_keeps_their_password(client):
    tenant = TenantFactory()
    erin = UserFactory(username="erin")
    invitation, _ = invitation_services.member_invite(
        tenant=tenant, invitee="erin", role=Role.MEMBER, actor=BOSS
    )
    invitation_services.invitation_accept(invitation=invitation, user=erin)
    assert Membership.objects.filter(tenant=tenant, user=erin).exists()
    assert not PasswordChangeRequired.objects.exists()
    client.post(reverse("login"), {"username": "erin", "password": "correct horse battery"})
    assert client.get(reverse("home")).status_code == 200
