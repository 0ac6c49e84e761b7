"""Writes on governance data. Each writes its audit row in the same transaction as the change."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ApplicationError, Conflict
from governance.access import Principal
from governance.client_address import ClientInfo
from governance.models import (
    AccessGroup,
    ApiKey,
    ApiScope,
    AuditEvent,
    Membership,
    PasswordChangeRequired,
    Role,
    Tenant,
    TenantOwned,
)

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "tsk"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change, as the audit log records it (a user, a key, or the system)."""

    user_id: int | None = None
    api_key_id: int | None = None
    label: str = "system"

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(user_id=principal.user_id, api_key_id=principal.api_key_id, label=principal.label)


SYSTEM = Actor()


def audit_record(
    *,
    tenant: Tenant,
    actor: Actor,
    action: str,
    target: Any = None,
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit row. Call inside the transaction of the change it records."""
    return AuditEvent.objects.create(
        tenant=tenant,
        actor_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        actor_label=actor.label[:200],
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(getattr(target, "pk", "") or "") if target is not None else "",
        extra=extra or {},
    )


def audit_for_user(
    *, user_id: int, actor: Actor, action: str, target: Any = None, extra: dict[str, Any] | None = None
) -> int:
    """Append one audit row in each tenant ``user_id`` belongs to (an event of the login itself, such
    as a sign-in, opens all of them); returns the rows written (0 for a user without a tenant)."""
    memberships = Membership.objects.filter(user_id=user_id).select_related("tenant").order_by("pk")
    for membership in memberships:
        audit_record(tenant=membership.tenant, actor=actor, action=action, target=target, extra=extra)
    return len(memberships)


OwnedT = TypeVar("OwnedT", bound=TenantOwned)


def same_tenant_only(items: Iterable[OwnedT], tenant_id: int, what: str) -> list[OwnedT]:
    """The items as a list; ``ApplicationError`` (400) if one belongs to another tenant."""
    found = list(items)
    if any(item.tenant_id != tenant_id for item in found):
        raise ApplicationError(f"{what} must belong to the same workspace.", code="cross_tenant")
    return found


def tenant_create(*, slug: str, name: str, actor: Actor = SYSTEM) -> Tenant:
    """Create a tenant; the slug is its stable public name."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                tenant = Tenant.objects.create(slug=slug, name=name)
        except IntegrityError as exc:
            raise Conflict(f"A workspace named '{slug}' already exists.") from exc
        audit_record(tenant=tenant, actor=actor, action="tenant.create", target=tenant)
    logger.info("tenant created tenant=%s slug=%s", tenant.pk, slug)
    return tenant


def membership_set(*, tenant: Tenant, user: AbstractBaseUser, role: str, actor: Actor = SYSTEM) -> Membership:
    """Add ``user`` to ``tenant`` with ``role``, or change the role of an existing membership."""
    if role not in Role.values:
        raise ApplicationError(f"Unknown role '{role}'.", code="invalid_role")
    with transaction.atomic():
        membership, created = Membership.objects.select_for_update().get_or_create(
            tenant=tenant, user=user, defaults={"role": role}
        )
        if not created and membership.role != role:
            old_role = membership.role
            membership.role = role
            membership.save(update_fields=["role"])
            audit_record(
                tenant=tenant,
                actor=actor,
                action="membership.role_change",
                target=membership,
                extra={"user": user.pk, "from": old_role, "to": role},
            )
        elif created:
            audit_record(
                tenant=tenant,
                actor=actor,
                action="membership.create",
                target=membership,
                extra={"user": user.pk, "role": role},
            )
    return membership


def user_create(
    *, username: str, password: str, email: str = "", superuser: bool = False
) -> AbstractBaseUser:
    """Create a login (no tenant yet: add a membership with ``membership_set``); ``superuser``: one
    that may also open Django's own admin (the operator's, e.g. the demo's)."""
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise Conflict(f"A user named '{username}' already exists.")
    create = user_model.objects.create_superuser if superuser else user_model.objects.create_user
    return create(username=username, password=password, email=email)


ADMIN_ROLES = (Role.OWNER, Role.ADMIN)
# Roles an administrator hands out from the members page (owners are set by an operator).
ASSIGNABLE_ROLES = (Role.ADMIN, Role.MEMBER)
ONE_TIME_PASSWORD_BYTES = 12


def _assignable(role: str) -> str:
    if role not in ASSIGNABLE_ROLES:
        raise ApplicationError(
            f"Unknown role '{role}': choose {' or '.join(ASSIGNABLE_ROLES)}.", code="invalid_role"
        )
    return role


def _keep_an_admin(membership: Membership, *, new_role: str | None) -> None:
    """Refuse a change that would leave the membership's tenant without an administrator.

    Call inside a transaction that locked the tenant row, so that two admins demoting each other at
    the same time cannot both succeed."""
    if membership.role not in ADMIN_ROLES or new_role in ADMIN_ROLES:
        return
    others = Membership.objects.filter(tenant_id=membership.tenant_id, role__in=ADMIN_ROLES).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise ApplicationError(
            "A workspace must keep at least one administrator: make someone else an admin first.",
            code="last_admin",
        )


def _not_an_owner(membership: Membership) -> None:
    # An owner outranks the admins who use the members page: an operator changes owners.
    if membership.role == Role.OWNER:
        raise ApplicationError(
            "An owner's membership is managed by the operator, not from this page.", code="owner"
        )


def _lock_tenant(tenant_id: int) -> None:
    Tenant.objects.select_for_update().filter(pk=tenant_id).first()


def membership_role_change(*, membership: Membership, role: str, actor: Actor) -> Membership:
    """Make a member an admin or an admin a member; the tenant keeps at least one admin."""
    role = _assignable(role)
    with transaction.atomic():
        _lock_tenant(membership.tenant_id)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if locked.role == role:
            return locked
        _not_an_owner(locked)
        _keep_an_admin(locked, new_role=role)
        old_role, locked.role = locked.role, role
        locked.save(update_fields=["role"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="membership.role_change",
            target=locked,
            extra={"user": locked.user_id, "from": old_role, "to": role},
        )
    logger.info("membership role changed tenant=%s membership=%s to=%s", locked.tenant_id, locked.pk, role)
    return locked


def membership_remove(*, membership: Membership, actor: Actor) -> None:
    """Take a user out of the tenant (and its access groups); the tenant keeps at least one admin."""
    with transaction.atomic():
        _lock_tenant(membership.tenant_id)
        locked = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if locked is None:
            return  # removed meanwhile: nothing left to do
        _not_an_owner(locked)
        _keep_an_admin(locked, new_role=None)
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="membership.remove",
            target=locked,
            extra={"user": locked.user_id, "role": locked.role},
        )
        locked.delete()
    logger.info("membership removed tenant=%s membership=%s", membership.tenant_id, membership.pk)


def member_create(*, tenant: Tenant, username: str, role: str, actor: Actor) -> tuple[Membership, str]:
    """Create a login with a random one-time password and add it to the tenant; returns the
    membership and the password, which is shown once and never stored in clear or audited."""
    role = _assignable(role)
    username = username.strip()
    if not username:
        raise ApplicationError("A new user needs a username.", code="invalid_username")
    password = secrets.token_urlsafe(ONE_TIME_PASSWORD_BYTES)
    with transaction.atomic():
        try:
            with transaction.atomic():
                user = user_create(username=username, password=password)
        except IntegrityError as exc:  # created meanwhile by another request
            raise Conflict(f"A user named '{username}' already exists.") from exc
        membership = Membership.objects.create(tenant=tenant, user_id=user.pk, role=role)
        PasswordChangeRequired.objects.create(user_id=user.pk)  # the password is one-time
        audit_record(
            tenant=tenant,
            actor=actor,
            action="user.create",
            target=membership,
            extra={"user": user.pk, "username": username, "role": role},
        )
    logger.info("user created tenant=%s membership=%s", tenant.pk, membership.pk)
    return membership, password


def user_password_set(*, user: AbstractBaseUser, password: str, client: ClientInfo | None = None) -> None:
    """Give ``user`` the password they chose (already validated) and lift a one-time password's
    change requirement; audited (``auth.password_change``, never the password) in each of their
    tenants, with the client's address and user agent when known."""
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        PasswordChangeRequired.objects.filter(user_id=user.pk).delete()
        audit_for_user(
            user_id=user.pk,
            actor=Actor(user_id=user.pk, label=user.get_username()),
            action="auth.password_change",
            target=user,
            extra=client.as_extra() if client is not None else {},
        )
    logger.info("password changed user=%s", user.pk)


def access_group_create(*, tenant: Tenant, name: str, actor: Actor) -> AccessGroup:
    """Create an access group in ``tenant``; names are unique per tenant."""
    name = name.strip()
    if not name:
        raise ApplicationError("A group needs a name.", code="invalid_name")
    with transaction.atomic():
        try:
            with transaction.atomic():
                group = AccessGroup.objects.create(tenant=tenant, name=name)
        except IntegrityError as exc:
            raise Conflict(f"A group named '{name}' already exists.") from exc
        audit_record(
            tenant=tenant, actor=actor, action="access_group.create", target=group, extra={"name": name}
        )
    return group


def access_group_members_set(
    *, group: AccessGroup, memberships: Iterable[Membership], actor: Actor
) -> AccessGroup:
    """Replace the members of ``group``; every membership must belong to the group's tenant."""
    members = same_tenant_only(memberships, group.tenant_id, "Members")
    with transaction.atomic():
        group.members.set(members)
        audit_record(
            tenant=group.tenant,
            actor=actor,
            action="access_group.members_set",
            target=group,
            extra={"memberships": sorted(m.pk for m in members)},
        )
    return group


def _hash_secret(secret: str) -> str:
    # The secret is 256 random bits, so a fast keyed-free hash is safe (no dictionary to try).
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_create(*, tenant: Tenant, name: str, scopes: Iterable[str], actor: Actor) -> tuple[ApiKey, str]:
    """Create a key and return it with its full secret, which is shown once and never stored."""
    scope_list = sorted(set(scopes))
    unknown = set(scope_list) - set(ApiScope.values)
    if unknown:
        raise ApplicationError(f"Unknown scopes: {', '.join(sorted(unknown))}.", code="invalid_scope")
    if not scope_list:
        raise ApplicationError("Choose at least one scope.", code="invalid_scope")
    name = name.strip() or "API key"
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            tenant=tenant,
            name=name[:100],
            prefix=prefix,
            secret_hash=_hash_secret(secret),
            scopes=scope_list,
            created_by_id=actor.user_id,
        )
        audit_record(
            tenant=tenant,
            actor=actor,
            action="api_key.create",
            target=api_key,
            extra={"prefix": prefix, "scopes": scope_list},
        )
    return api_key, f"{API_KEY_PREFIX}_{prefix}_{secret}"


def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key at once; revoking twice is harmless."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is None:
            locked.revoked_at = timezone.now()
            locked.save(update_fields=["revoked_at"])
            audit_record(
                tenant=locked.tenant,
                actor=actor,
                action="api_key.revoke",
                target=locked,
                extra={"prefix": locked.prefix},
            )
    return locked


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """Return the active key matching ``raw_key`` (and stamp its use), or None."""
    parts = raw_key.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    _, prefix, secret = parts
    api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
    if api_key is None or not hmac.compare_digest(api_key.secret_hash, _hash_secret(secret)):
        return None
    if api_key.revoked_at is not None:
        return None
    now = timezone.now()
    # Stamp at most once a minute: a busy key must not write on every request.
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
