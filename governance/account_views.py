"""The signed-in user's own account: choose a new password (required after a one-time password)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from governance import selectors, services
from governance.client_address import client_info
from governance.forms import PasswordChangeForm
from governance.middleware import TenantHttpRequest


@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: TenantHttpRequest) -> HttpResponse:
    """Check the current password and the new one against the validators, then set it."""
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.user  # the signed-in user (login_required), as the form checked them
        services.user_password_set(
            user=user, password=form.cleaned_data["new_password1"], client=client_info(request)
        )
        update_session_auth_hash(request, user)  # stay signed in
        messages.success(request, "Your password was changed.")
        return redirect("home")
    context = {"form": form, "required": selectors.password_change_required(user=request.user)}
    return render(request, "registration/password_change.html", context, status=400 if form.errors else 200)
