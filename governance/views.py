"""Tenant administration pages: switch tenant, API keys, access groups, audit log.

Views translate HTTP to one service or selector call and back; rules live in services.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config.errors import NotFound
from governance import selectors, services
from governance.decorators import admin_required
from governance.forms import AccessGroupForm, ApiKeyForm, TenantSwitchForm
from governance.middleware import SESSION_TENANT_KEY, TenantHttpRequest
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


@admin_required
def audit_log(request: TenantHttpRequest) -> HttpResponse:
    """The tenant's audit trail, newest first, filterable by action and actor."""
    principal = request.principal
    events = selectors.audit_event_list(
        tenant=principal.tenant, action=request.GET.get("action"), actor=request.GET.get("actor")
    )[:200]
    return render(request, "governance/audit_log.html", {"events": events})
