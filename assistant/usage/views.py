"""The tenant administrators' usage dashboard: what the assistant answered, how often without an
LLM, what the LLM cost, how long each stage took, and what the documents could not answer."""

from __future__ import annotations

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from assistant.usage import selectors
from assistant.usage.charts import dashboard_charts
from assistant.usage.selectors import DEFAULT_RANGE, RANGES
from config.errors import ApplicationError
from governance.decorators import admin_required
from governance.middleware import TenantHttpRequest


class UsageRangeForm(forms.Form):
    days = forms.TypedChoiceField(
        choices=[(days, f"Last {days} days") for days in RANGES],
        coerce=int,
        required=False,
        empty_value=None,
        label="Period",
    )


@admin_required
@require_GET
def usage_dashboard(request: TenantHttpRequest) -> HttpResponse:
    """The dashboard for ``?days=7|30|90`` (30 by default)."""
    form = UsageRangeForm(request.GET or {"days": str(DEFAULT_RANGE)})  # bound, so the select shows it
    if not form.is_valid():
        choices = ", ".join(str(days) for days in RANGES[:-1]) + f" or {RANGES[-1]}"
        raise ApplicationError(f"Choose a period of {choices} days.", code="invalid_range")
    days = form.cleaned_data["days"] or DEFAULT_RANGE
    dashboard = selectors.usage_dashboard(request.principal.tenant, days=days)
    context = {"form": form, "dashboard": dashboard, "charts": dashboard_charts(dashboard)}
    return render(request, "assistant/usage.html", context)
