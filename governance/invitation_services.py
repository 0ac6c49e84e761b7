"""Invitations: how an existing account joins a tenant. Writes, each audited in the inviting tenant
in the same transaction.

An admin invites by email or username and always gets the same answer, so the form cannot tell
which accounts exist anywhere on the site; the invited person sees the invitation after signing in
and accepts or declines it. Accepting adds a membership and nothing else: which workspace is current
stays the person's choice.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError, Conflict
from governance.models import Invitation, Membership, Tenant
from governance.services import ASSIGNABLE_ROLES, Actor, audit_record

logger = logging.getLogger(__name__)

INVITATION_LIFETIME = timedelta(days=14)
TOKEN_BYTES = 32
# What the admin reads whatever they typed: it must not tell accounts that exist from those that don't.
INVITE_SENT_MESSAGE = (
    "Invitation recorded. If that person has an account or signs up with that email, "
    "they will see the invitation after signing in."
)


def _token_hash(token: str) -> str:
    # 256 random bits: a plain hash is enough (nothing to guess from a dictionary).
    return hashlib.sha256(token.encode()).hexdigest()


def _matching_user_id(invitee: str) -> int | None:
    """The account the invitation is meant for: the exact username, else the one account with that
    email address (none when several share it: the invitation then waits for a name match)."""
    users = get_user_model().objects
    user_id = users.filter(username=invitee).values_list("pk", flat=True).first()
    if user_id is None and "@" in invitee:
        by_email = list(users.filter(email__iexact=invitee).values_list("pk", flat=True)[:2])
        user_id = by_email[0] if len(by_email) == 1 else None
    return user_id


def member_invite(*, tenant: Tenant, invitee: str, role: str, actor: Actor) -> tuple[Invitation, str]:
    """Invite ``invitee`` (an email or a username) to ``tenant`` with ``role``; returns the invitation
    and its token (only its hash is stored). Inviting the same person again renews the pending
    invitation. Nothing in the answer or the audit row says whether an account matched."""
    invitee = invitee.strip()
    if not invitee:
        raise ApplicationError("Enter an email address or a username.", code="invalid_invitee")
    if role not in ASSIGNABLE_ROLES:
        raise ApplicationError(
            f"Unknown role '{role}': choose {' or '.join(ASSIGNABLE_ROLES)}.", code="invalid_role"
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = timezone.now()
    with transaction.atomic():
        invitation = (
            Invitation.objects.select_for_update()
            .filter(
                tenant=tenant,
                invitee=invitee,
                accepted_at__isnull=True,
                declined_at__isnull=True,
                revoked_at__isnull=True,
            )
            .first()
        ) or Invitation(tenant=tenant, invitee=invitee)
        renewed = invitation.pk is not None
        if invitation.user_id is None:  # an account may have been made since
            invitation.user_id = _matching_user_id(invitee)
        invitation.role = role
        invitation.token_hash = _token_hash(token)
        invitation.invited_by_id = actor.user_id
        invitation.expires_at = now + INVITATION_LIFETIME
        invitation.save()
        audit_record(
            tenant=tenant,
            actor=actor,
            action="member.invite",
            target=invitation,
            extra={"invitee": invitee, "role": role, "renewed": renewed},
        )
    logger.info("invitation sent tenant=%s invitation=%s", tenant.pk, invitation.pk)
    return invitation, token


def _answerable(invitation: Invitation) -> Invitation:
    """The invitation locked for an answer; 409 when it was revoked, answered or has expired."""
    locked = Invitation.objects.select_for_update().select_related("tenant").get(pk=invitation.pk)
    if locked.revoked_at is not None:
        raise Conflict("This invitation was withdrawn.", code="invitation_revoked")
    if locked.is_answered:
        raise Conflict("This invitation was already answered.", code="invitation_answered")
    if timezone.now() >= locked.expires_at:
        raise Conflict("This invitation has expired: ask for a new one.", code="invitation_expired")
    return locked


def _actor_of(user: AbstractBaseUser) -> Actor:
    return Actor(user_id=user.pk, label=user.get_username())


def invitation_accept(*, invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """``user`` accepts ``invitation`` (one addressed to them, see ``invitations_pending_for``): they
    become a member with its role (an existing membership is kept as it is)."""
    with transaction.atomic():
        locked = _answerable(invitation)
        membership, created = Membership.objects.get_or_create(
            tenant_id=locked.tenant_id, user_id=user.pk, defaults={"role": locked.role}
        )
        locked.user_id, locked.accepted_at = user.pk, timezone.now()
        locked.save(update_fields=["user", "accepted_at"])
        audit_record(
            tenant=locked.tenant,
            actor=_actor_of(user),
            action="member.invite_accept",
            target=locked,
            extra={"user": user.pk, "membership": membership.pk, "role": membership.role, "joined": created},
        )
    logger.info("invitation accepted tenant=%s invitation=%s", locked.tenant_id, locked.pk)
    return membership


def invitation_decline(*, invitation: Invitation, user: AbstractBaseUser) -> Invitation:
    """``user`` declines ``invitation`` (one addressed to them); the tenant's audit log records it."""
    with transaction.atomic():
        locked = _answerable(invitation)
        locked.user_id, locked.declined_at = user.pk, timezone.now()
        locked.save(update_fields=["user", "declined_at"])
        audit_record(
            tenant=locked.tenant,
            actor=_actor_of(user),
            action="member.invite_decline",
            target=locked,
            extra={"user": user.pk},
        )
    logger.info("invitation declined tenant=%s invitation=%s", locked.tenant_id, locked.pk)
    return locked


def invitation_revoke(*, invitation: Invitation, actor: Actor) -> Invitation:
    """Withdraw an invitation that was not answered; withdrawing twice is harmless."""
    with transaction.atomic():
        locked = Invitation.objects.select_for_update().select_related("tenant").get(pk=invitation.pk)
        if locked.revoked_at is not None:
            return locked
        if locked.is_answered:
            raise Conflict("This invitation was already answered.", code="invitation_answered")
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
        audit_record(
            tenant=locked.tenant,
            actor=actor,
            action="member.invite_revoke",
            target=locked,
            extra={"invitee": locked.invitee},
        )
    logger.info("invitation revoked tenant=%s invitation=%s", locked.tenant_id, locked.pk)
    return locked
