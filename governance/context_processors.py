"""Template context for the header: current tenant, the user's other tenants, their role, and how
many invitations wait for their answer."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from governance.selectors import invitations_pending_for


def tenancy(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": getattr(request, "membership", None),
        "user_memberships": getattr(request, "memberships", []),
        # A callable: templates call it, so the count is asked only by pages that show it.
        "pending_invitation_count": lambda: invitations_pending_for(user=user).count() if user else 0,
    }
