"""The ONE place that answers "who is asking, and what may they see".

Views, the API, tasks and services turn a request (a session user in a tenant, or an API key)
into a :class:`Principal`, and ask this module what that principal may do (``require_admin``,
``require_scope``) and which group-restricted rows it may read (``group_restricted_visible``, which
``ingest.selectors`` applies to documents: ``documents_visible_to``, ``versions_visible_to``,
``chunks_visible_to``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from config.errors import Forbidden
from governance.models import ApiKey, ApiScope, Membership, Tenant

MEMBER_SCOPES = (ApiScope.ASK, ApiScope.SEARCH)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a member of a tenant, or one of its API keys. Immutable, cheap to pass."""

    tenant: Tenant
    user_id: int | None
    api_key_id: int | None
    label: str
    is_admin: bool
    scopes: frozenset[str]
    group_ids: frozenset[int]

    @property
    def tenant_id(self) -> int:
        return self.tenant.pk

    @property
    def sees_all(self) -> bool:
        """Admins (and admin-scoped keys) see every document of their tenant."""
        return self.is_admin


def principal_for_membership(membership: Membership) -> Principal:
    """The principal of a signed-in user acting in the tenant of ``membership``."""
    group_ids = frozenset(membership.access_groups.values_list("id", flat=True))
    return Principal(
        tenant=membership.tenant,
        user_id=membership.user_id,
        api_key_id=None,
        label=membership.user.get_username(),
        is_admin=membership.is_admin,
        # A member asks and searches; uploading, deleting and the tenant's usage are for its admins.
        scopes=frozenset(ApiScope.values if membership.is_admin else MEMBER_SCOPES),
        group_ids=group_ids,
    )


def principal_for_api_key(api_key: ApiKey) -> Principal:
    """The principal of an integration calling with ``api_key`` (already checked as active)."""
    scopes = frozenset(api_key.scopes)
    return Principal(
        tenant=api_key.tenant,
        user_id=None,
        api_key_id=api_key.pk,
        label=f"api-key:{api_key.prefix}",
        is_admin=ApiScope.ADMIN in scopes,
        scopes=scopes,
        group_ids=frozenset(api_key.access_groups.values_list("id", flat=True)),
    )


def require_admin(principal: Principal) -> None:
    """Raise ``Forbidden`` unless the principal administers its tenant."""
    if not principal.is_admin:
        raise Forbidden("This page is for the workspace's administrators.")


def require_scope(principal: Principal, scope: str) -> None:
    """Raise ``Forbidden`` unless the principal holds ``scope``."""
    if scope not in principal.scopes and not principal.is_admin:
        raise Forbidden(f"This API key lacks the '{scope}' scope.", code="missing_scope")


def group_restricted_visible(principal: Principal, *, groups: str = "access_groups") -> Q:
    """The visibility rule for a row restricted by access groups, as a filter on that row: every row
    for those who see all (admins), else the unrestricted ones and those of the principal's groups.
    ``groups`` names the row's many-to-many field to ``AccessGroup``. The app that owns the rows
    applies it (with its own tenant filter); governance never reads another app's tables."""
    if principal.sees_all:
        return Q()
    return Q(**{f"{groups}__isnull": True}) | Q(**{f"{groups}__in": principal.group_ids})
