"""What a locked-out sign-in meets: the backend that refuses it, and the page it gets.

The page says the same whether the username exists or not, and never repeats the username: the
lockout counts per username and per address alike, so it tells an attacker nothing about accounts.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429


class SignInLockoutBackend(AxesStandaloneBackend):  # type: ignore[misc]  # axes ships no types
    """django-axes' lockout check, first in ``AUTHENTICATION_BACKENDS``, for every sign-in that
    comes with a request: the sign-in page, the Django admin's.

    A call to ``authenticate`` without a request comes from code, not from a client (a management
    command, a test checking a password): there is no address to count, so it is left to the next
    backend instead of failing as axes' own backend does. Views must pass the request."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> AbstractBaseUser | None:
        if request is None:
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        return None  # axes only refuses (PermissionDenied); the next backend signs in


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """429 with ``Retry-After``: the cool-off, the longest a lockout can still last
    (axes' ``AXES_LOCKOUT_CALLABLE``)."""
    minutes = int(settings.SIGNIN_LOCKOUT_MINUTES)
    response = render(request, "registration/locked_out.html", {"minutes": minutes}, status=LOCKOUT_STATUS)
    response["Retry-After"] = str(minutes * 60)
    return response
