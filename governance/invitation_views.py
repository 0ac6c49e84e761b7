"""The signed-in person's own invitations: see them, accept or decline each.

Open to any signed-in account, with or without a workspace (an invitation may be their first).
Accepting adds the workspace to their switcher; it never becomes the current one by itself.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.errors import NotFound
from governance import invitation_services, selectors
from governance.middleware import SESSION_TENANT_KEY, TenantHttpRequest


def _account(request: TenantHttpRequest) -> AbstractBaseUser:
    """The signed-in account (``login_required`` lets no one else in)."""
    if not isinstance(request.user, AbstractBaseUser):
        raise NotFound("No such invitation.")
    return request.user


@login_required
@require_GET
def invitation_list(request: TenantHttpRequest) -> HttpResponse:
    """The invitations waiting for the signed-in person's answer."""
    invitations = selectors.invitations_pending_for(user=request.user)
    return render(request, "governance/invitations.html", {"invitations": invitations})


@login_required
@require_POST
def invitation_accept(request: TenantHttpRequest, invitation_id: int) -> HttpResponse:
    """Join the invitation's workspace; the current workspace stays the one the person is in."""
    user = _account(request)
    invitation = selectors.invitation_get_for_user(user=user, invitation_id=invitation_id)
    if request.tenant is not None:  # keep the current one current, this request and the next ones
        request.session.setdefault(SESSION_TENANT_KEY, request.tenant.pk)
    invitation_services.invitation_accept(invitation=invitation, user=user)
    messages.success(
        request, f"You joined {invitation.tenant.name}. Switch to it from the workspace menu when you want."
    )
    return redirect("governance:invitations")


@login_required
@require_POST
def invitation_decline(request: TenantHttpRequest, invitation_id: int) -> HttpResponse:
    """Say no to an invitation; its workspace's admins see that it was declined."""
    user = _account(request)
    invitation = selectors.invitation_get_for_user(user=user, invitation_id=invitation_id)
    invitation_services.invitation_decline(invitation=invitation, user=user)
    messages.success(request, f"You declined the invitation to {invitation.tenant.name}.")
    return redirect("governance:invitations")
