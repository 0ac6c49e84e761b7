"""Intent training pages for a tenant's admins: intents and labelled examples, retraining in the
background (the version's panel is polled by htmx), a version's evaluation, activate, roll back.

Views translate HTTP to one call of ``assistant.routing.intents`` (writes) or
``assistant.routing.selectors`` (reads) and back.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from assistant.models import IntentModelStatus
from assistant.routing import intents, selectors
from assistant.tenant_settings.forms import IntentExampleForm, TenantIntentForm
from config.errors import ApplicationError
from governance.decorators import admin_required
from governance.middleware import TenantHttpRequest
from governance.selectors import access_group_list
from governance.services import Actor

EXAMPLES_PER_PAGE = 100


def _intent_form(request: TenantHttpRequest, data: object = None) -> TenantIntentForm:
    return TenantIntentForm(data, groups=access_group_list(tenant=request.principal.tenant), prefix="intent")


def _example_form(request: TenantHttpRequest, data: object = None) -> IntentExampleForm:
    names = list(selectors.tenant_intent_list(tenant=request.principal.tenant).values_list("name", flat=True))
    return IntentExampleForm(data, intent_names=names, prefix="example")


def _overview(
    request: TenantHttpRequest,
    *,
    intent_form: TenantIntentForm | None = None,
    example_form: IntentExampleForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    tenant = request.principal.tenant
    label = request.GET.get("label", "")
    examples = selectors.intent_example_list(tenant=tenant)
    if label:
        examples = examples.filter(label=label)
    summary = selectors.intent_summary(tenant=tenant)
    context = {
        "summary": summary,
        "intent_rows": [
            (intent, summary["examples_by_label"].get(intent.name, 0))
            for intent in selectors.tenant_intent_list(tenant=tenant)
        ],
        "label": label,
        "examples": Paginator(examples, EXAMPLES_PER_PAGE).get_page(request.GET.get("page")),
        "versions": selectors.intent_model_list(tenant=tenant)[:20],
        "intent_form": intent_form or _intent_form(request),
        "example_form": example_form or _example_form(request),
        "error": error,
    }
    return render(request, "assistant/admin/intents.html", context, status=status)


@admin_required
@require_GET
def intent_overview(request: TenantHttpRequest) -> HttpResponse:
    """The tenant's intents, examples (``?label=`` filters) and router versions."""
    return _overview(request)


@admin_required
@require_POST
def intent_add(request: TenantHttpRequest) -> HttpResponse:
    """Add an intent of the tenant's own (a canned reply, or a search in one group)."""
    principal = request.principal
    form = _intent_form(request, request.POST)
    if not form.is_valid():
        return _overview(request, intent_form=form, status=400)
    data = form.cleaned_data
    try:
        intent = intents.tenant_intent_add(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            name=data["name"],
            reply=data["reply"] if data["kind"] == "reply" else "",
            access_group=data["access_group"] if data["kind"] == "group" else None,
        )
    except ApplicationError as exc:
        form.add_error("name", exc.message)
        return _overview(request, intent_form=form, status=exc.status)
    messages.success(
        request, f"Intent '{intent.name}' added: label at least 3 examples with it, then retrain."
    )
    return redirect("assistant_admin:intents")


@admin_required
@require_POST
def intent_set_active(request: TenantHttpRequest, intent_name: str) -> HttpResponse:
    """Switch an intent on or off (``active`` is "1" or "0")."""
    principal = request.principal
    active = request.POST.get("active") == "1"
    intents.tenant_intent_set_active(
        tenant=principal.tenant, actor=Actor.of(principal), name=intent_name, active=active
    )
    messages.success(
        request, f"Intent '{intent_name}' is {'on' if active else 'off'} from the next training."
    )
    return redirect("assistant_admin:intents")


@admin_required
@require_POST
def example_add(request: TenantHttpRequest) -> HttpResponse:
    """Label a message with a built-in route or one of the tenant's intents."""
    principal = request.principal
    form = _example_form(request, request.POST)
    if not form.is_valid():
        return _overview(request, example_form=form, status=400)
    try:
        example = intents.intent_example_add(
            tenant=principal.tenant,
            actor=Actor.of(principal),
            text=form.cleaned_data["text"],
            label=form.cleaned_data["label"],
        )
    except ApplicationError as exc:
        form.add_error("text", exc.message)
        return _overview(request, example_form=form, status=exc.status)
    messages.success(request, f"Example added, labelled '{example.label}'.")
    return redirect("assistant_admin:intents")


@admin_required
@require_POST
def example_remove(request: TenantHttpRequest, example_id: int) -> HttpResponse:
    principal = request.principal
    intents.intent_example_remove(tenant=principal.tenant, actor=Actor.of(principal), example_id=example_id)
    messages.success(request, "Example removed.")
    return redirect("assistant_admin:intents")


@admin_required
@require_POST
def model_retrain(request: TenantHttpRequest) -> HttpResponse:
    """Queue the training of a new candidate version; its page shows the progress."""
    principal = request.principal
    try:
        version = intents.intent_model_retrain(tenant=principal.tenant, actor=Actor.of(principal))
    except ApplicationError as exc:
        return _overview(request, error=exc.message, status=exc.status)
    return redirect("assistant_admin:intent_version", version_number=version.number)


def _version_context(request: TenantHttpRequest, version_number: int) -> dict[str, object]:
    tenant = request.principal.tenant
    version = selectors.intent_model_get(tenant=tenant, number=version_number)
    active = selectors.intent_model_list(tenant=tenant).filter(status=IntentModelStatus.ACTIVE).first()
    evaluation = version.evaluation or {}
    rows = zip(evaluation.get("labels", []), evaluation.get("confusion", []), strict=False)
    return {"version": version, "active": active, "evaluation": evaluation, "confusion_rows": list(rows)}


@admin_required
@require_GET
def version_detail(request: TenantHttpRequest, version_number: int) -> HttpResponse:
    """A version's status and evaluation (accuracy, out-of-scope recall and precision, confusion)."""
    return render(request, "assistant/admin/intent_version.html", _version_context(request, version_number))


@admin_required
@require_GET
def version_panel(request: TenantHttpRequest, version_number: int) -> HttpResponse:
    """The version's panel alone: htmx polls it while the version trains."""
    return render(
        request,
        "assistant/admin/partials/intent_version_panel.html",
        _version_context(request, version_number),
    )


@admin_required
@require_POST
def version_activate(request: TenantHttpRequest, version_number: int) -> HttpResponse:
    principal = request.principal
    version = intents.intent_model_activate(
        tenant=principal.tenant, actor=Actor.of(principal), number=version_number
    )
    messages.success(request, f"Version {version.number} is now the workspace's router.")
    return redirect("assistant_admin:intent_version", version_number=version.number)


@admin_required
@require_POST
def model_rollback(request: TenantHttpRequest) -> HttpResponse:
    """Reactivate the version active before the current one (or Tessera's default router)."""
    principal = request.principal
    previous = intents.intent_model_rollback(tenant=principal.tenant, actor=Actor.of(principal))
    if previous is None:
        messages.success(request, "Rolled back to Tessera's default router.")
    else:
        messages.success(request, f"Rolled back to version {previous.number}.")
    return redirect("assistant_admin:intents")
