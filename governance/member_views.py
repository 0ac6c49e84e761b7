"""The members page: who belongs to the tenant and with which role; invite, create, change, remove.

Views translate HTTP to one service call and back; the rules (assignable roles, the last admin)
live in ``governance.services``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.errors import ApplicationError
from governance import invitation_services, selectors, services
from governance.decorators import admin_required
from governance.forms import ROLE_CHOICES, MemberCreateForm, MemberInviteForm, MemberRoleForm
from governance.middleware import TenantHttpRequest
from governance.services import Actor


def _page(
    request: TenantHttpRequest,
    *,
    invite_form: MemberInviteForm | None = None,
    create_form: MemberCreateForm | None = None,
    error: str = "",
    created: tuple[str, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "memberships": selectors.membership_list(tenant=request.principal.tenant),
        "role_choices": ROLE_CHOICES,
        "invitations": selectors.invitation_list(tenant=request.principal.tenant),
        "now": timezone.now(),
        "invite_form": invite_form or MemberInviteForm(prefix="invite"),
        "create_form": create_form or MemberCreateForm(prefix="new"),
        "error": error,
        "created": created,
    }
    return render(request, "governance/members.html", context, status=status)


@admin_required
@require_GET
def member_list(request: TenantHttpRequest) -> HttpResponse:
    """The tenant's members with their roles, and the forms to add or create one."""
    return _page(request)


@admin_required
@require_POST
def member_invite(request: TenantHttpRequest) -> HttpResponse:
    """Invite someone by email or username. The answer is the same whatever was typed: it never
    tells an account that exists (in any workspace) from one that does not."""
    principal = request.principal
    form = MemberInviteForm(request.POST, prefix="invite")
    if not form.is_valid():
        return _page(request, invite_form=form, status=400)
    try:
        invitation_services.member_invite(
            tenant=principal.tenant,
            invitee=form.cleaned_data["invitee"],
            role=form.cleaned_data["role"],
            actor=Actor.of(principal),
        )
    except ApplicationError as exc:
        form.add_error("invitee", exc.message)
        return _page(request, invite_form=form, status=exc.status)
    messages.success(request, invitation_services.INVITE_SENT_MESSAGE)
    return redirect("governance:members")


@admin_required
@require_POST
def invitation_revoke(request: TenantHttpRequest, invitation_id: int) -> HttpResponse:
    """Withdraw an invitation not yet answered (another tenant's is a 404)."""
    principal = request.principal
    invitation = selectors.invitation_get(tenant=principal.tenant, invitation_id=invitation_id)
    try:
        invitation_services.invitation_revoke(invitation=invitation, actor=Actor.of(principal))
    except ApplicationError as exc:
        return _page(request, error=exc.message, status=exc.status)
    messages.success(request, f"The invitation of {invitation.invitee} was withdrawn.")
    return redirect("governance:members")


@admin_required
@require_POST
def member_create(request: TenantHttpRequest) -> HttpResponse:
    """Create a user with a one-time password, shown once on the page this answers."""
    principal = request.principal
    form = MemberCreateForm(request.POST, prefix="new")
    if not form.is_valid():
        return _page(request, create_form=form, status=400)
    try:
        membership, password = services.member_create(
            tenant=principal.tenant,
            username=form.cleaned_data["username"],
            role=form.cleaned_data["role"],
            actor=Actor.of(principal),
        )
    except ApplicationError as exc:
        form.add_error("username", exc.message)
        return _page(request, create_form=form, status=exc.status)
    return _page(request, created=(membership.user.get_username(), password))


@admin_required
@require_POST
def member_role(request: TenantHttpRequest, membership_id: int) -> HttpResponse:
    """Change a member's role (admin or member)."""
    principal = request.principal
    membership = selectors.membership_get(tenant=principal.tenant, membership_id=membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _page(request, error="Choose a role: admin or member.", status=400)
    try:
        services.membership_role_change(
            membership=membership, role=form.cleaned_data["role"], actor=Actor.of(principal)
        )
    except ApplicationError as exc:
        return _page(request, error=exc.message, status=exc.status)
    messages.success(request, f"{membership.user.get_username()} is now {form.cleaned_data['role']}.")
    return redirect("governance:members")


@admin_required
@require_POST
def member_remove(request: TenantHttpRequest, membership_id: int) -> HttpResponse:
    """Take a user out of the workspace."""
    principal = request.principal
    membership = selectors.membership_get(tenant=principal.tenant, membership_id=membership_id)
    try:
        services.membership_remove(membership=membership, actor=Actor.of(principal))
    except ApplicationError as exc:
        return _page(request, error=exc.message, status=exc.status)
    messages.success(request, f"{membership.user.get_username()} was removed from the workspace.")
    return redirect("governance:members")
