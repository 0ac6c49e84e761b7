"""Resolve the signed-in user's current tenant once per request."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from governance.access import Principal, principal_for_membership
from governance.models import Membership, Tenant
from governance.selectors import memberships_of_user, password_change_required

SESSION_TENANT_KEY = "tessera_tenant_id"


class TenantHttpRequest(HttpRequest):
    """The request as tenant-aware views see it (for type checking; set by the middlewares).

    Views behind ``member_required``/``admin_required`` may rely on ``principal`` being set."""

    tenant: Tenant | None
    membership: Membership | None
    memberships: list[Membership]
    principal: Principal
    htmx: HtmxDetails


class TenantMiddleware:
    """Set ``request.tenant``, ``request.membership``, ``request.memberships`` and ``request.principal``.

    The current tenant is the one saved in the session if the user still belongs to it, else the
    one the user joined first (so a workspace joined later never becomes current by itself, at the
    next sign-in or otherwise). API-key requests are resolved by the REST authentication class.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        memberships = memberships_of_user(user=request.user)
        current = _pick(memberships, request.session.get(SESSION_TENANT_KEY))
        request.memberships = memberships  # type: ignore[attr-defined]
        request.membership = current  # type: ignore[attr-defined]
        request.tenant = current.tenant if current else None  # type: ignore[attr-defined]
        # None for anonymous users and users without a tenant (the decorators answer those).
        request.principal = principal_for_membership(current) if current else None  # type: ignore[attr-defined]
        return self.get_response(request)


def _pick(memberships: list[Membership], tenant_id: object) -> Membership | None:
    for membership in memberships:
        if membership.tenant_id == tenant_id:
            return membership
    return min(memberships, key=lambda membership: membership.pk) if memberships else None


def tenant_of(request: HttpRequest) -> Tenant | None:
    return getattr(request, "tenant", None)


def principal_of(request: HttpRequest) -> Principal | None:
    return getattr(request, "principal", None)


class PasswordChangeRequiredMiddleware:
    """Send a user who signed in with a one-time password to the page where they choose their own,
    whatever they asked for (signing out and static files excepted)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if password_change_required(user=request.user):
            allowed = {reverse("governance:password_change"), reverse("logout")}
            if request.path_info not in allowed and not request.path.startswith(
                settings.STATIC_URL or "/static/"
            ):
                return redirect("governance:password_change")
        return self.get_response(request)
