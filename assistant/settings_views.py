"""The tenant's assistant settings page (admins only): which LLM answers, its budget, the cache.

The API key itself never appears here: the settings hold only the name of the environment variable
that the server reads it from."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from assistant.admin_forms import AssistantSettingsForm
from assistant.policy import assistant_settings_for
from assistant.tenant_settings import EDITABLE_FIELDS, assistant_settings_update
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
            try:
                assistant_settings_update(tenant=principal.tenant, actor=Actor.of(principal), values=values)
            except ApplicationError as exc:
                for field, message in exc.extra.get("fields", {None: exc.message}).items():
                    form.add_error(field if field in form.fields else None, message)
                status = exc.status
            else:
                messages.success(request, "Settings saved.")
                return redirect("assistant_admin:settings")
    return render(request, "assistant/admin/settings.html", {"form": form}, status=status)
