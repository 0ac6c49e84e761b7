"""Tenants, memberships and roles, access groups, API keys and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings
from django.db import models


class Tenant(models.Model):
    """A company (or team) whose documents, users and settings are isolated from every other."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class TenantOwned(models.Model):
    """Base for every row that belongs to a tenant: the tenant key is never null."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(TenantOwned):
    """A user's place in one tenant, with a role. A user may belong to several tenants."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=("tenant", "user"), name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant_id} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


class PasswordChangeRequired(models.Model):
    """A user who was given a one-time password: they choose their own before anything else.

    Belongs to the user, not to a tenant (a login is shared by the tenants it is a member of)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"password change required for {self.user_id}"


class AccessGroup(TenantOwned):
    """A named set of members; documents restricted to groups are visible only to their members."""

    name = models.CharField(max_length=100)
    members = models.ManyToManyField(Membership, related_name="access_groups", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(fields=("tenant", "name"), name="access_group_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class ApiScope(models.TextChoices):
    ASK = "ask", "Ask questions"
    SEARCH = "search", "Search passages"
    INGEST = "ingest", "Upload and delete documents"
    ADMIN = "admin", "Administer the tenant"


class ApiKey(TenantOwned):
    """A per-tenant key for integrations. Only a prefix and a hash of the secret are stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    access_groups = models.ManyToManyField(AccessGroup, related_name="api_keys", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AppendOnlyQuerySet(models.QuerySet["AuditEvent"]):
    """Bulk updates and deletes of audit rows are refused."""

    def update(self, **kwargs: Any) -> int:
        raise PermissionError("Audit events are append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")


class AuditEvent(TenantOwned):
    """What happened, who did it, to what. Written in the same transaction as the change."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the trail stays readable after a user or key is deleted.
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects: ClassVar[models.Manager[AuditEvent]] = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("tenant", "-created_at"), name="audit_tenant_time"),
            models.Index(fields=("tenant", "action"), name="audit_tenant_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise PermissionError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("Audit events are append-only.")


class Invitation(TenantOwned):
    """An invitation to join a tenant, which the invited person accepts or declines themselves.

    ``invitee`` is the email or username as the admin typed it; ``user`` is the account it matched
    when it was sent (or, for one that matched none, the account that answered it). Only a hash of
    its random token is stored, as for API keys. An admin never learns whether an account matched."""

    invitee = models.CharField(max_length=254)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(fields=("tenant", "invitee"), name="invitation_tenant_invitee"),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.invitee} to {self.tenant_id} ({self.role})"

    @property
    def is_answered(self) -> bool:
        return self.accepted_at is not None or self.declined_at is not None

    def is_pending(self, now: datetime) -> bool:
        """Neither answered nor revoked, and not expired at ``now``."""
        return not self.is_answered and self.revoked_at is None and now < self.expires_at
