"""Django admin for operators (superusers). Audit events are read-only here too."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from governance.models import AccessGroup, ApiKey, AuditEvent, Membership, Tenant


class MembershipInline(admin.TabularInline[Membership, Tenant]):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin[Tenant]):
    list_display = ("name", "slug", "created_at")
    search_fields = ("name", "slug")
    inlines = (MembershipInline,)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("user", "tenant", "role", "created_at")
    list_filter = ("role", "tenant")
    raw_id_fields = ("user",)


@admin.register(AccessGroup)
class AccessGroupAdmin(admin.ModelAdmin[AccessGroup]):
    list_display = ("name", "tenant", "created_at")
    list_filter = ("tenant",)
    filter_horizontal = ("members",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ("name", "tenant", "prefix", "scopes", "last_used_at", "revoked_at")
    list_filter = ("tenant",)
    # The hash is never editable: keys are created and revoked through the services.
    readonly_fields = ("prefix", "secret_hash", "created_by", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin[AuditEvent]):
    list_display = ("created_at", "tenant", "actor_label", "action", "target_type", "target_id")
    list_filter = ("tenant", "action")
    search_fields = ("actor_label", "action", "target_id")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
