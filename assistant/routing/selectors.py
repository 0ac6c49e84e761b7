"""Reads of a tenant's intent routing: its intents, examples and router versions (always by tenant)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet

from assistant.models import IntentExample, IntentModelStatus, IntentModelVersion, TenantIntent
from config.errors import NotFound
from governance.models import Tenant


def tenant_intent_list(*, tenant: Tenant) -> QuerySet[TenantIntent]:
    return TenantIntent.objects.filter(tenant=tenant).select_related("access_group")


def intent_example_list(*, tenant: Tenant) -> QuerySet[IntentExample]:
    return IntentExample.objects.filter(tenant=tenant)


def intent_model_list(*, tenant: Tenant) -> QuerySet[IntentModelVersion]:
    """The tenant's router versions, newest first."""
    return IntentModelVersion.objects.filter(tenant=tenant).defer("examples")


def intent_model_get(*, tenant: Tenant, number: int) -> IntentModelVersion:
    """Version ``number`` of the tenant's router (another tenant's, or none: 404)."""
    version = IntentModelVersion.objects.filter(tenant=tenant, number=number).first()
    if version is None:
        raise NotFound(f"No intent model version {number}.")
    return version


def intent_summary(*, tenant: Tenant) -> dict[str, Any]:
    """The tenant's intents, how many examples each label has, and which version routes."""
    counts = dict(
        IntentExample.objects.filter(tenant=tenant)
        .values_list("label")
        .annotate(n=Count("pk"))
        .values_list("label", "n")
    )
    active = IntentModelVersion.objects.filter(tenant=tenant, status=IntentModelStatus.ACTIVE).first()
    return {
        "active_version": active.number if active else None,
        "intents": [
            {
                "name": intent.name,
                "active": intent.is_active,
                "reply": intent.reply,
                "group": intent.access_group.name if intent.access_group else None,
            }
            for intent in tenant_intent_list(tenant=tenant)
        ],
        "examples_by_label": dict(sorted(counts.items())),
    }
