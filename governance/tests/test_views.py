"""Governance pages through HTTP: status, content, and the database/audit state behind them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from governance.models import AccessGroup, ApiKey, AuditEvent, Membership, Role
from governance.tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_login_home_and_logout(client, member_of):
    tenant = TenantFactory(name="Initech")
    user = member_of(tenant)
    assert client.get(reverse("home")).status_code == 302
    response = client.post(reverse("login"), {"username": user.username, "password": "correct horse battery"})
    assert response.status_code == 302
    page = client.get(reverse("home"))
    assert page.status_code == 200
    assert b"Initech" in page.content and user.username.encode() in page.content
    assert b"vendor/htmx.min.js" in page.content and b"cdn" not in page.content.lower()
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


def test_wrong_password_is_refused_with_a_message(client, member_of):
    user = member_of(TenantFactory())
    response = client.post(reverse("login"), {"username": user.username, "password": "nope"})
    assert response.status_code == 200 and b"didn't match" in response.content


def test_user_without_tenant_sees_explanation(client, django_user_model):
    user = django_user_model.objects.create_user(username="lonely", password="x-password-1")
    client.force_login(user)
    response = client.get(reverse("home"))
    assert response.status_code == 403 and b"No workspace" in response.content


def test_switch_tenant_only_to_own_tenants(client, member_of):
    first, second, foreign = (
        TenantFactory(name="Alpha"),
        TenantFactory(name="Beta"),
        TenantFactory(name="Zed"),
    )
    user = member_of(first)
    member_of(second)  # another user
    MembershipFactory(tenant=second, user=user)
    client.force_login(user)
    assert b"Alpha" in client.get(reverse("home")).content
    assert client.post(reverse("governance:tenant_switch"), {"tenant": second.slug}).status_code == 302
    home = client.get(reverse("home")).content.decode()
    assert f'value="{second.slug}" selected' in home
    response = client.post(reverse("governance:tenant_switch"), {"tenant": foreign.slug})
    assert response.status_code == 404
    htmx = client.post(reverse("governance:tenant_switch"), {"tenant": first.slug}, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 200 and htmx["HX-Redirect"] == "/"


@pytest.mark.parametrize("name", ["governance:api_keys", "governance:access_groups", "governance:audit_log"])
def test_members_cannot_reach_admin_pages(client, member_of, name):
    client.force_login(member_of(TenantFactory(), role=Role.MEMBER))
    response = client.get(reverse(name))
    assert response.status_code == 403 and b"administrators" in response.content


def test_admin_creates_key_sees_secret_once_then_revokes(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN))
    response = client.post(reverse("governance:api_keys"), {"name": "Slack bot", "scopes": ["ask", "search"]})
    assert response.status_code == 200
    api_key = ApiKey.objects.get(tenant=tenant)
    secret_html = response.content.decode()
    assert f"tsk_{api_key.prefix}_" in secret_html
    listing = client.get(reverse("governance:api_keys")).content.decode()
    assert f"tsk_{api_key.prefix}_" not in listing
    assert reverse("api-docs") in listing and "/v1</code>" in listing  # where to go next
    assert api_key.scopes == ["ask", "search"]
    response = client.post(reverse("governance:api_key_revoke", args=[api_key.pk]))
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    actions = AuditEvent.objects.filter(tenant=tenant).exclude(action__startswith="auth.")  # not the sign-in
    assert list(actions.values_list("action", flat=True).order_by("id")) == [
        "api_key.create",
        "api_key.revoke",
    ]
    audit_page = client.get(reverse("governance:audit_log") + "?action=api_key.revoke")
    assert b"api_key.revoke" in audit_page.content and b"api_key.create" not in audit_page.content


def test_bad_api_key_form_is_a_400(client, member_of):
    client.force_login(member_of(TenantFactory(), role=Role.OWNER))
    response = client.post(reverse("governance:api_keys"), {"name": "", "scopes": ["root"]})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_groups_create_and_set_members(client, member_of):
    tenant = TenantFactory()
    admin = member_of(tenant, role=Role.ADMIN)
    colleague = member_of(tenant)
    client.force_login(admin)
    response = client.post(reverse("governance:access_groups"), {"name": "Legal"})
    group = AccessGroup.objects.get(tenant=tenant, name="Legal")
    assert response.status_code == 302 and response["Location"].endswith(f"/settings/groups/{group.pk}/")
    membership = Membership.objects.get(user=colleague)
    client.post(reverse("governance:access_group", args=[group.pk]), {"members": [str(membership.pk)]})
    assert list(group.members.all()) == [membership]
    assert AuditEvent.objects.filter(tenant=tenant, action="access_group.members_set").exists()
