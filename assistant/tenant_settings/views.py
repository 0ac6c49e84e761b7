"""The tenant's assistant settings page (admins only): which of the operator's LLM connections
answers, its model, budget and cache, and the tenant's own API key where its connection takes one
(write-only: stored encrypted, never shown)."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from assistant.answering.llm.policy import assistant_settings_for
from assistant.tenant_settings.forms import AssistantSettingsForm
from assistant.tenant_settings.services import (
    EDITABLE_FIELDS,
    assistant_api_key_set,
    assistant_settings_update,
)
from config.errors import ApplicationError
from governance.decorators import admin_required
from governance.middleware import TenantHttpRequest
from governance.services import Actor


@admin_required
@require_http_methods(["GET", "POST"])
def assistant_settings(request: TenantHttpRequest) -> HttpResponse:
    """Show the settings; POST saves them (a 400 with the errors by their fields if invalid)."""
    principal = request.principal
    form = AssistantSettingsForm(request.POST or None, instance=assistant_settings_for(principal.tenant))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            values = {name: form.cleaned_data[name] for name in EDITABLE_FIELDS}
            actor = Actor.of(principal)
            try:
                with transaction.atomic():
                    assistant_settings_update(tenant=principal.tenant, actor=actor, values=values)
                    if form.cleaned_data["api_key"] or form.cleaned_data["remove_api_key"]:
                        new_key = form.cleaned_data["api_key"] or None
                        assistant_api_key_set(tenant=principal.tenant, actor=actor, api_key=new_key)
            except ApplicationError as exc:
                for field, message in exc.extra.get("fields", {None: exc.message}).items():
                    form.add_error(field if field in form.fields else None, message)
                status = exc.status
            else:
                messages.success(request, "Settings saved.")
                return redirect("assistant_admin:settings")
    stored = form.instance
    context = {
        "form": form,
        "api_key_set_at": stored.llm_api_key_set_at if stored.llm_api_key_encrypted else None,
    }
    return render(request, "assistant/admin/settings.html", context, status=status)
