"""The ONE place that answers "who is asking, and what may they see".

Views, the API, tasks and services turn a request (a session user in a tenant, or an API key)
into a :class:`Principal`, and ask this module what that principal may read or do
(``documents_visible_to``, ``versions_visible_to``, ``chunks_visible_to``, ``require_admin``,
``require_scope``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Q, QuerySet

from config.errors import Forbidden
from governance.models import ApiKey, ApiScope, Membership, Tenant
from ingest.models import Chunk, Document, DocumentVersion, VersionStatus

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


def documents_visible_to(principal: Principal) -> QuerySet[Document]:
    """The documents ``principal`` may see: all for admins; else unrestricted ones and its groups'."""
    documents = Document.objects.filter(tenant_id=principal.tenant_id)
    if principal.sees_all:
        return documents
    allowed = Q(access_groups__isnull=True) | Q(access_groups__in=principal.group_ids)
    return documents.filter(pk__in=Document.objects.filter(allowed).values("pk"))


def chunks_visible_to(principal: Principal, *, access_group_id: int | None = None) -> QuerySet[Chunk]:
    """The searchable chunks ``principal`` may see: those of the current, ready version of each
    visible document. Retrieval passes these ids INTO the index search as its scope.
    ``access_group_id`` keeps only the visible documents restricted to that group (a tenant intent
    that searches one collection): it narrows the scope, never widens it.

    Written as "chunks whose version is in <the visible current versions>" so the database walks
    the few versions and reads chunk ids from the (version, ordinal) index alone, never the chunk
    rows with their texts and vectors (49 -> 19 ms p50 for SciFact's 16k chunks in SQLite;
    docs/benchmarks.md). The versions
    are the tenant's, so their chunks are too."""
    versions = versions_visible_to(principal, access_group_id=access_group_id)
    return Chunk.objects.filter(version_id__in=versions.values("pk"))


def versions_visible_to(
    principal: Principal, *, access_group_id: int | None = None
) -> QuerySet[DocumentVersion]:
    """The searchable versions ``principal`` may see: the current, ready version of each visible
    document (one row per document, so far fewer rows than its chunks); ``access_group_id``
    narrows them as for ``chunks_visible_to``."""
    documents = documents_visible_to(principal)
    if access_group_id is not None:
        documents = documents.filter(access_groups=access_group_id)
    return DocumentVersion.objects.filter(
        tenant_id=principal.tenant_id,
        status=VersionStatus.READY,
        document__in=documents,
        document__current_version=F("pk"),
    )
