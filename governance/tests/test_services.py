"""Governance services: each change writes its audit row; API keys are hashed and revocable."""

from __future__ import annotations

import pytest

from config.errors import ApplicationError, Conflict
from governance import services
from governance.models import ApiKey, AuditEvent, Membership, Role
from governance.services import Actor
from governance.tests.factories import MembershipFactory, TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_tenant_create_writes_audit_and_refuses_duplicate_slug():
    tenant = services.tenant_create(slug="acme", name="Acme")
    event = AuditEvent.objects.get(tenant=tenant)
    assert (event.action, event.target_type, event.target_id) == ("tenant.create", "tenant", str(tenant.pk))
    with pytest.raises(Conflict, match="already exists"):
        services.tenant_create(slug="acme", name="Other")
    assert AuditEvent.objects.filter(action="tenant.create").count() == 1


def test_membership_set_creates_then_changes_role_with_audit():
    tenant, user = TenantFactory(), UserFactory()
    admin = Actor(label="boss")
    services.membership_set(tenant=tenant, user=user, role=Role.MEMBER, actor=admin)
    services.membership_set(tenant=tenant, user=user, role=Role.ADMIN, actor=admin)
    services.membership_set(tenant=tenant, user=user, role=Role.ADMIN, actor=admin)  # no change, no row
    assert Membership.objects.get(tenant=tenant, user=user).role == Role.ADMIN
    actions = list(AuditEvent.objects.filter(tenant=tenant).order_by("id").values_list("action", flat=True))
    assert actions == ["membership.create", "membership.role_change"]
    with pytest.raises(ApplicationError):
        services.membership_set(tenant=tenant, user=user, role="emperor")


def test_api_key_secret_is_never_stored_and_authenticates():
    tenant = TenantFactory()
    api_key, raw = services.api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor(label="t"))
    stored = ApiKey.objects.get(pk=api_key.pk)
    secret = raw.split("_", 2)[2]
    assert raw.startswith(f"tsk_{stored.prefix}_")
    assert secret not in stored.secret_hash and len(stored.secret_hash) == 64
    assert not ApiKey.objects.filter(secret_hash__contains=secret).exists()
    found = services.api_key_authenticate(raw_key=raw)
    assert found is not None and found.pk == api_key.pk and found.tenant == tenant
    assert found.last_used_at is not None
    assert AuditEvent.objects.filter(tenant=tenant, action="api_key.create").exists()
    assert secret not in str(AuditEvent.objects.get(tenant=tenant, action="api_key.create").extra)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda raw: raw[:-1] + ("A" if raw[-1] != "A" else "B"),
        lambda raw: "tsk_nope_" + raw.split("_", 2)[2],
        lambda raw: "",
        lambda raw: "Bearer",
        lambda raw: raw.replace("tsk_", "xyz_"),
    ],
)
def test_api_key_wrong_key_is_refused(mangle):
    _, raw = services.api_key_create(tenant=TenantFactory(), name="k", scopes=["search"], actor=Actor())
    assert services.api_key_authenticate(raw_key=mangle(raw)) is None


def test_api_key_revoke_stops_it_and_is_audited_once():
    tenant = TenantFactory()
    api_key, raw = services.api_key_create(tenant=tenant, name="k", scopes=["ask"], actor=Actor())
    services.api_key_revoke(api_key=api_key, actor=Actor(label="admin"))
    services.api_key_revoke(api_key=api_key, actor=Actor(label="admin"))
    assert services.api_key_authenticate(raw_key=raw) is None
    assert AuditEvent.objects.filter(tenant=tenant, action="api_key.revoke").count() == 1


def test_api_key_scopes_are_checked():
    tenant = TenantFactory()
    with pytest.raises(ApplicationError, match="Unknown scopes"):
        services.api_key_create(tenant=tenant, name="k", scopes=["root"], actor=Actor())
    with pytest.raises(ApplicationError, match="at least one"):
        services.api_key_create(tenant=tenant, name="k", scopes=[], actor=Actor())
    assert not ApiKey.objects.exists()


def test_access_group_members_must_share_the_tenant():
    tenant, other = TenantFactory(), TenantFactory()
    group = services.access_group_create(tenant=tenant, name="Finance", actor=Actor())
    inside, outside = MembershipFactory(tenant=tenant), MembershipFactory(tenant=other)
    with pytest.raises(ApplicationError, match="workspace"):
        services.access_group_members_set(group=group, memberships=[inside, outside], actor=Actor())
    services.access_group_members_set(group=group, memberships=[inside], actor=Actor())
    assert list(group.members.all()) == [inside]
    with pytest.raises(Conflict):
        services.access_group_create(tenant=tenant, name="Finance", actor=Actor())
    assert services.access_group_create(tenant=other, name="Finance", actor=Actor()).tenant == other


def test_audit_events_are_append_only():
    tenant = services.tenant_create(slug="ledger", name="Ledger")
    event = AuditEvent.objects.get(tenant=tenant)
    event.action = "tampered"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(tenant=tenant).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(tenant=tenant).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "tenant.create"
