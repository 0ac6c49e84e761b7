"""Principals: who is asking, with which role, groups and scopes."""

from __future__ import annotations

import pytest

from config.errors import Forbidden
from governance import services
from governance.access import principal_for_api_key, principal_for_membership, require_admin, require_scope
from governance.models import Role
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db


def test_member_principal_carries_groups_and_role():
    membership = MembershipFactory(role=Role.MEMBER)
    group = AccessGroupFactory(tenant=membership.tenant)
    group.members.add(membership)
    principal = principal_for_membership(membership)
    assert principal.tenant_id == membership.tenant_id
    assert principal.group_ids == frozenset({group.pk})
    assert not principal.sees_all
    with pytest.raises(Forbidden):
        require_admin(principal)
    admin = principal_for_membership(MembershipFactory(tenant=membership.tenant, role=Role.OWNER))
    require_admin(admin)
    assert admin.sees_all


def test_member_asks_and_searches_but_does_not_ingest_or_administer():
    member = principal_for_membership(MembershipFactory(role=Role.MEMBER))
    require_scope(member, "ask")
    require_scope(member, "search")
    for scope in ("ingest", "admin"):
        with pytest.raises(Forbidden):
            require_scope(member, scope)
    admin = principal_for_membership(MembershipFactory(role=Role.ADMIN))
    for scope in ("ask", "search", "ingest", "admin"):
        require_scope(admin, scope)


def test_api_key_principal_is_limited_to_its_scopes():
    api_key, _ = services.api_key_create(tenant=TenantFactory(), name="bot", scopes=["search"], actor=Actor())
    principal = principal_for_api_key(api_key)
    require_scope(principal, "search")
    with pytest.raises(Forbidden) as excinfo:
        require_scope(principal, "ingest")
    assert excinfo.value.code == "missing_scope"
    assert principal.label == f"api-key:{api_key.prefix}" and principal.user_id is None
