"""Tenant administration pages: switch tenant, API keys, access groups, audit log (the members
page is ``governance.member_views``).

Views translate HTTP to one service or selector call and back; rules live in services.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config.errors import NotFound
from governance import selectors, services
from governance.audit_export import EXPORT_CHUNK, audit_csv_lines, audit_line
from governance.decorators import admin_required
from governance.forms import AccessGroupForm, ApiKeyForm, AuditFilterForm, TenantSwitchForm
from governance.middleware import SESSION_TENANT_KEY, TenantHttpRequest
from governance.models import AuditEvent
from governance.services import Actor


@login_required
@require_POST
def tenant_switch(request: TenantHttpRequest) -> HttpResponse:
    """Make another of the user's tenants the current one."""
    form = TenantSwitchForm(request.POST)
    slug = form.cleaned_data["tenant"] if form.is_valid() else None
    membership = next((m for m in request.memberships if m.tenant.slug == slug), None)
    if membership is None:
        raise NotFound("No such workspace.")
    request.session[SESSION_TENANT_KEY] = membership.tenant_id
    if request.htmx:
        return HttpResponseClientRedirect(reverse("home"))
    return redirect("home")


@admin_required
@require_http_methods(["GET", "POST"])
def api_key_list(request: TenantHttpRequest) -> HttpResponse:
    """List the tenant's API keys; POST creates one and shows its secret once."""
    principal = request.principal
    form = ApiKeyForm(request.POST or None)
    created_secret = None
    if request.method == "POST" and form.is_valid():
        _, created_secret = services.api_key_create(
            tenant=principal.tenant,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            actor=Actor.of(principal),
        )
        form = ApiKeyForm()
    context = {
        "form": form,
        "api_keys": selectors.api_key_list(tenant=principal.tenant),
        "created_secret": created_secret,
    }
    status = 400 if request.method == "POST" and created_secret is None else 200
    return render(request, "governance/api_keys.html", context, status=status)


@admin_required
@require_POST
def api_key_revoke(request: TenantHttpRequest, api_key_id: int) -> HttpResponse:
    principal = request.principal
    api_key = selectors.api_key_get(tenant=principal.tenant, api_key_id=api_key_id)
    services.api_key_revoke(api_key=api_key, actor=Actor.of(principal))
    messages.success(request, f"Key {api_key.prefix}… revoked.")
    return redirect("governance:api_keys")


@admin_required
@require_http_methods(["GET", "POST"])
def access_group_list(request: TenantHttpRequest) -> HttpResponse:
    """List access groups; POST creates one."""
    principal = request.principal
    form = AccessGroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        group = services.access_group_create(
            tenant=principal.tenant, name=form.cleaned_data["name"], actor=Actor.of(principal)
        )
        return redirect("governance:access_group", group_id=group.pk)
    context = {"form": form, "groups": selectors.access_group_list(tenant=principal.tenant)}
    return render(
        request, "governance/access_groups.html", context, status=400 if request.method == "POST" else 200
    )


@admin_required
@require_http_methods(["GET", "POST"])
def access_group_detail(request: TenantHttpRequest, group_id: int) -> HttpResponse:
    """Show a group; POST replaces its members with the checked memberships."""
    principal = request.principal
    group = selectors.access_group_get(tenant=principal.tenant, group_id=group_id)
    memberships = selectors.membership_list(tenant=principal.tenant)
    if request.method == "POST":
        wanted = {int(v) for v in request.POST.getlist("members") if v.isdigit()}
        services.access_group_members_set(
            group=group, memberships=[m for m in memberships if m.pk in wanted], actor=Actor.of(principal)
        )
        messages.success(request, "Members saved.")
        return redirect("governance:access_group", group_id=group.pk)
    member_ids = {m.pk for m in group.members.all()}
    context = {"group": group, "memberships": memberships, "member_ids": member_ids}
    return render(request, "governance/access_group_detail.html", context)


AUDIT_PAGE_SIZE = 50


def _audit_events(request: TenantHttpRequest) -> tuple[AuditFilterForm, QuerySet[AuditEvent] | None]:
    """The filter form from the query string, and the events it selects (None: invalid filters)."""
    form = AuditFilterForm(request.GET)
    if not form.is_valid():
        return form, None
    data, zone = form.cleaned_data, timezone.get_current_timezone()

    def day_start(day: date | None, plus: int = 0) -> datetime | None:
        if day is None:
            return None
        return datetime.combine(day + timedelta(days=plus), time.min, tzinfo=zone)

    events = selectors.audit_event_list(
        tenant=request.principal.tenant,
        action=data["action"],
        actor=data["actor"],
        since=day_start(data["date_from"]),
        until=day_start(data["date_to"], plus=1),  # the end date is included
    )
    return form, events


@admin_required
@require_GET
def audit_log(request: TenantHttpRequest) -> HttpResponse:
    """The tenant's audit trail, newest first, filtered by the query string, a page at a time."""
    form, events = _audit_events(request)
    page = Paginator(events if events is not None else AuditEvent.objects.none(), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "lines": [audit_line(event) for event in page.object_list],
        "query": query.urlencode(),
    }
    return render(request, "governance/audit_log.html", context, status=200 if events is not None else 400)


@admin_required
@require_GET
def audit_export(request: TenantHttpRequest) -> HttpResponseBase:
    """The filtered audit trail as CSV, streamed (every matching row, not one page)."""
    _, events = _audit_events(request)
    if events is None:
        return audit_log(request)
    response = StreamingHttpResponse(
        audit_csv_lines(events.iterator(chunk_size=EXPORT_CHUNK)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{request.principal.tenant.slug}-{stamp}.csv"'
    )
    return response
