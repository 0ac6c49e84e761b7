"""Reads of governance data. Every read of tenant data takes the tenant; misses raise NotFound."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from config.errors import NotFound
from governance.models import (
    AccessGroup,
    ApiKey,
    AuditEvent,
    Invitation,
    Membership,
    PasswordChangeRequired,
    Tenant,
)


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


def invitation_list(*, tenant: Tenant) -> QuerySet[Invitation]:
    """The tenant's invitations not yet answered nor revoked (expired ones too), newest first."""
    return Invitation.objects.filter(
        tenant=tenant, accepted_at__isnull=True, declined_at__isnull=True, revoked_at__isnull=True
    ).select_related("invited_by")


def invitation_get(*, tenant: Tenant, invitation_id: int) -> Invitation:
    try:
        return Invitation.objects.select_related("tenant").get(tenant=tenant, pk=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise NotFound("No such invitation.") from exc


def _addressed_to(user: AbstractBaseUser | AnonymousUser) -> Q:
    """The invitations meant for ``user``: matched to them when sent, or (matched to no account
    then) naming their username or, case-insensitively, their email address."""
    named = Q(invitee=user.get_username())
    email = (getattr(user, "email", "") or "").strip()
    if email:
        named |= Q(invitee__iexact=email)
    return Q(user_id=user.pk) | (Q(user__isnull=True) & named)


def invitations_pending_for(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Invitation]:
    """The invitations a signed-in user may still accept or decline, newest first."""
    if not user.is_authenticated:
        return Invitation.objects.none()
    return Invitation.objects.filter(
        _addressed_to(user),
        accepted_at__isnull=True,
        declined_at__isnull=True,
        revoked_at__isnull=True,
        expires_at__gt=timezone.now(),
    ).select_related("tenant", "invited_by")


def invitation_get_for_user(*, user: AbstractBaseUser, invitation_id: int) -> Invitation:
    """One of the user's own invitations, whatever its state; anyone else's is "not found"."""
    try:
        return Invitation.objects.select_related("tenant").get(_addressed_to(user), pk=invitation_id)
    except Invitation.DoesNotExist as exc:
        raise NotFound("No such invitation.") from exc


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
