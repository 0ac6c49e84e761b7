"""Django admin for operators: each tenant's answering policy, the answer ledger (read-only), and
each tenant's intents, examples and router versions (versions change only through the services)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from assistant.models import AssistantSettings, IntentExample, IntentModelVersion, Message, TenantIntent


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(admin.ModelAdmin[AssistantSettings]):
    list_display = (
        "tenant",
        "llm_connection",
        "llm_model",
        "monthly_token_budget",
        "answer_cache",
        "answer_cache_threshold",
        "updated_at",
    )
    list_filter = ("llm_connection",)
    exclude = ("llm_api_key_encrypted",)


@admin.register(Message)
class MessageLedgerAdmin(admin.ModelAdmin[Message]):
    """The ledger of answers: how each was produced, never editable."""

    list_display = (
        "created_at",
        "tenant",
        "kind",
        "llm_called",
        "cached_from",
        "provider",
        "model_name",
        "prompt_tokens",
    )
    list_filter = ("kind", "llm_called", "provider", "tenant")
    exclude = ("text",)  # the ledger, not the conversation

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(TenantIntent)
class TenantIntentAdmin(admin.ModelAdmin[TenantIntent]):
    list_display = ("name", "tenant", "is_active", "access_group", "created_at")
    list_filter = ("is_active", "tenant")
    search_fields = ("name",)


@admin.register(IntentExample)
class IntentExampleAdmin(admin.ModelAdmin[IntentExample]):
    list_display = ("text", "label", "tenant", "created_at")
    list_filter = ("label", "tenant")
    search_fields = ("text",)


@admin.register(IntentModelVersion)
class IntentModelVersionAdmin(admin.ModelAdmin[IntentModelVersion]):
    """Trained versions with their evaluation; activate and roll back with `manage.py intents`."""

    list_display = ("tenant", "number", "status", "accuracy", "oos_recall", "oos_precision", "train_seconds")
    list_filter = ("status", "tenant")
    exclude = ("examples",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
