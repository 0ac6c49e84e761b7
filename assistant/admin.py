"""Django admin for operators: each tenant's answering policy, and the answer ledger (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from assistant.models import AssistantSettings, Message


@admin.register(AssistantSettings)
class AssistantSettingsAdmin(admin.ModelAdmin[AssistantSettings]):
    list_display = (
        "tenant",
        "llm_provider",
        "llm_model",
        "llm_base_url",
        "monthly_token_budget",
        "answer_cache",
        "answer_cache_threshold",
        "updated_at",
    )
    list_filter = ("llm_provider",)


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
