"""Shape checks for the tenant admin's assistant pages (settings, intent training); the rules live
in ``assistant.tenant_settings`` and ``assistant.tenant_intents``."""

from __future__ import annotations

from typing import Any

from django import forms

from assistant.models import AssistantSettings, LlmProvider
from assistant.tenant_intents import MAX_EXAMPLE_CHARS, MAX_REPLY_CHARS
from assistant.tenant_settings import EDITABLE_FIELDS
from config.forms import AccessibleFormMixin
from governance.models import AccessGroup
from retrieval.intent import DEFAULT_ROUTES


class AssistantSettingsForm(AccessibleFormMixin, forms.ModelForm[AssistantSettings]):
    """The tenant's answering policy; an empty field means the site default."""

    llm_base_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", label="Server URL (OpenAI-compatible)"
    )

    class Meta:
        model = AssistantSettings
        fields = EDITABLE_FIELDS
        labels = {
            "llm_provider": "LLM provider",
            "llm_model": "Model name",
            "llm_base_url": "Server URL (OpenAI-compatible)",
            "llm_api_key_env": "API key environment variable",
            "llm_timeout_s": "Timeout (seconds)",
            "monthly_token_budget": "Monthly token budget",
            "answer_cache": "Answer cache",
            "answer_cache_threshold": "Answer cache threshold",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        provider = self.fields["llm_provider"]
        provider.choices = [("", "Site default"), *LlmProvider.choices]
        cache = self.fields["answer_cache"]
        cache.widget.choices = [("unknown", "Site default"), ("true", "On"), ("false", "Off")]
        threshold = self.fields["answer_cache_threshold"]
        threshold.widget.attrs.update({"min": "0.85", "max": "1", "step": "0.01"})
        self.fields["llm_timeout_s"].widget.attrs.update({"min": "0", "step": "any"})


class TenantIntentForm(AccessibleFormMixin, forms.Form):
    """A tenant intent: a canned reply, or a search in one access group's documents."""

    KIND_CHOICES = [("reply", "Answer with a fixed reply"), ("group", "Search one access group's documents")]

    name = forms.CharField(max_length=32, help_text="Lower-case letters, digits and underscores.")
    kind = forms.ChoiceField(
        choices=KIND_CHOICES, widget=forms.RadioSelect, initial="reply", label="What it does"
    )
    reply = forms.CharField(
        max_length=MAX_REPLY_CHARS, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    access_group = forms.ModelChoiceField(
        queryset=AccessGroup.objects.none(), required=False, label="Access group"
    )

    def __init__(self, *args: Any, groups: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["access_group"].queryset = groups

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind")
        if kind == "reply" and not (cleaned.get("reply") or "").strip():
            self.add_error("reply", "Write the reply this intent answers with.")
        if kind == "group" and cleaned.get("access_group") is None:
            self.add_error("access_group", "Choose the group whose documents this intent searches.")
        return cleaned


class IntentExampleForm(AccessibleFormMixin, forms.Form):
    """A labelled message: a built-in route or one of the tenant's intents."""

    text = forms.CharField(max_length=MAX_EXAMPLE_CHARS, label="Example message")
    label = forms.ChoiceField(choices=())

    def __init__(self, *args: Any, intent_names: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [
            ("Built-in routes", [(r, r) for r in DEFAULT_ROUTES]),
            ("Your intents", [(n, n) for n in intent_names]),
        ] if intent_names else [(r, r) for r in DEFAULT_ROUTES]  # fmt: skip
