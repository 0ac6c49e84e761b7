"""View decorators: a signed-in member of a tenant, or one of its administrators."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.shortcuts import render

from governance.access import require_admin

View = Callable[..., HttpResponseBase]


def member_required(view: View) -> View:
    """Signed in and a member of at least one tenant (``request.principal`` is set)."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if getattr(request, "principal", None) is None:
            return render(request, "governance/no_tenant.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def admin_required(view: View) -> View:
    """A member whose role in the current tenant is owner or admin."""

    @member_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        require_admin(request.principal)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper
