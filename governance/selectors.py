"""Reads of governance data. Every read of tenant data takes the tenant; misses raise NotFound."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from config.errors import NotFound
from governance.models import AccessGroup, ApiKey, AuditEvent, Membership, PasswordChangeRequired, Tenant


def memberships_of_user(*, user: AbstractBaseUser | AnonymousUser) -> list[Membership]:
    """The tenants a user belongs to, with their roles, ordered by tenant name."""
    if not user.is_authenticated:
        return []
    return list(
        Membership.objects.filter(user_id=user.pk).select_related("tenant", "user").order_by("tenant__name")
    )


def password_change_required(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether the signed-in user still has to replace a one-time password."""
    return user.is_authenticated and PasswordChangeRequired.objects.filter(user_id=user.pk).exists()


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def membership_get(*, tenant: Tenant, membership_id: int) -> Membership:
    try:
        return Membership.objects.select_related("user").get(tenant=tenant, pk=membership_id)
    except Membership.DoesNotExist as exc:
        raise NotFound("No such member.") from exc


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(tenant=tenant).select_related("created_by")


def api_key_get(*, tenant: Tenant, api_key_id: int) -> ApiKey:
    try:
        return ApiKey.objects.select_related("tenant").get(tenant=tenant, pk=api_key_id)
    except ApiKey.DoesNotExist as exc:
        raise NotFound("No such API key.") from exc


def access_group_list(*, tenant: Tenant) -> QuerySet[AccessGroup]:
    return AccessGroup.objects.filter(tenant=tenant).prefetch_related("members__user")


def access_group_get(*, tenant: Tenant, group_id: int) -> AccessGroup:
    try:
        return AccessGroup.objects.prefetch_related("members__user").get(tenant=tenant, pk=group_id)
    except AccessGroup.DoesNotExist as exc:
        raise NotFound("No such group.") from exc


def audit_event_list(
    *,
    tenant: Tenant,
    action: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """The tenant's audit trail, newest first, optionally filtered by action prefix, actor, and a
    time range (``since`` included, ``until`` excluded)."""
    events = AuditEvent.objects.filter(tenant=tenant)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events
