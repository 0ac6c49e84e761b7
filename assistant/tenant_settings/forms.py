"""Shape checks for the tenant admin's assistant pages (settings, intent training); the rules live
in ``assistant.tenant_settings.services`` and ``assistant.routing.intents``."""

from __future__ import annotations

from typing import Any

from django import forms

from assistant.answering.llm.connections import LlmConnection
from assistant.answering.llm.policy import available_connections
from assistant.models import AssistantSettings
from assistant.routing.intents import MAX_EXAMPLE_CHARS, MAX_REPLY_CHARS
from assistant.tenant_settings.services import EDITABLE_FIELDS, MAX_API_KEY_CHARS
from config.forms import AccessibleFormMixin
from governance.models import AccessGroup
from retrieval.intent import DEFAULT_ROUTES


class AssistantSettingsForm(AccessibleFormMixin, forms.ModelForm[AssistantSettings]):
    """The tenant's answering policy; an empty field means the site default. The LLM is one of the
    operator's connections: no URL and no server variable can be named here."""

    llm_connection = forms.ChoiceField(required=False, label="Language model")
    api_key = forms.CharField(
        required=False,
        max_length=MAX_API_KEY_CHARS,
        strip=True,
        label="Your API key for this connection",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Only for a connection that takes your organisation's own key. Stored encrypted, "
        "never shown again; leave empty to keep the stored one.",
    )
    remove_api_key = forms.BooleanField(required=False, label="Remove the stored API key")

    class Meta:
        model = AssistantSettings
        fields = EDITABLE_FIELDS
        labels = {
            "llm_model": "Model name",
            "llm_timeout_s": "Timeout (seconds)",
            "monthly_token_budget": "Monthly token budget",
            "answer_cache": "Answer cache",
            "answer_cache_threshold": "Answer cache threshold",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections = available_connections()
        self.fields["llm_connection"].choices = [
            (name, _describe(connection)) for name, connection in self.connections.items()
        ]
        cache = self.fields["answer_cache"]
        cache.widget.choices = [("unknown", "Site default"), ("true", "On"), ("false", "Off")]
        threshold = self.fields["answer_cache_threshold"]
        threshold.widget.attrs.update({"min": "0.85", "max": "1", "step": "0.01"})
        self.fields["llm_timeout_s"].widget.attrs.update({"min": "0", "step": "any"})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        connection = self.connections.get(cleaned.get("llm_connection") or "")
        if cleaned.get("api_key") and (connection is None or not connection.tenant_key):
            self.add_error("api_key", "This connection uses the server's own key; yours is not sent to it.")
        if cleaned.get("api_key") and cleaned.get("remove_api_key"):
            self.add_error("remove_api_key", "Either enter a new key or remove the stored one.")
        return cleaned


def _describe(connection: LlmConnection) -> str:
    label = connection.label
    if connection.name == "":
        label = f"Site default ({_site_label(connection)})"
    if connection.tenant_key:
        label += " - with your own API key"
    if connection.models:
        label += f" - models: {', '.join(connection.models[:5])}"
    return label


def _site_label(connection: LlmConnection) -> str:
    return {"local": "embedded model", "extractive": "no LLM"}.get(connection.provider, "the server's LLM")


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
