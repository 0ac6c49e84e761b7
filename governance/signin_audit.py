"""The sign-in trail: signing in and out, failed sign-ins and lockouts, in the audit log.

Django's auth signals (and axes' ``user_locked_out``) are the only hook on a sign-in, so the
receivers at the bottom are connected once, in ``GovernanceConfig.ready``; they only translate the
request into a ``ClientInfo`` and call the services above them. Each event is written in every
tenant the account belongs to (one login opens all of them). A failed sign-in for a username no
account has belongs to no tenant: it is logged, never audited. No password is ever written.
"""

from __future__ import annotations

import logging
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.signals import user_locked_out
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.http import HttpRequest

from governance.client_address import UNKNOWN_ADDRESS, ClientInfo, client_info
from governance.services import Actor, audit_for_user

logger = logging.getLogger(__name__)

USERNAME_MAX_CHARS = 150
ANONYMOUS = Actor(label="anonymous")  # whoever tried: a failed sign-in proves no identity


def _account(username: str) -> AbstractBaseUser | None:
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def sign_in_record(*, user: AbstractBaseUser, client: ClientInfo) -> int:
    """Audit a successful sign-in (``auth.sign_in``) and clear the account's own failed attempts."""
    with transaction.atomic():
        rows = audit_for_user(
            user_id=user.pk,
            actor=Actor(user_id=user.pk, label=user.get_username()),
            action="auth.sign_in",
            target=user,
            extra=client.as_extra(),
        )
    # Only this username's failures: an address's failures on other accounts stay counted.
    AxesProxyHandler.reset_attempts(username=user.get_username())
    logger.info("sign-in user=%s ip=%s", user.pk, client.ip)
    return rows


def sign_out_record(*, user: AbstractBaseUser, client: ClientInfo) -> int:
    """Audit a sign-out (``auth.sign_out``)."""
    with transaction.atomic():
        rows = audit_for_user(
            user_id=user.pk,
            actor=Actor(user_id=user.pk, label=user.get_username()),
            action="auth.sign_out",
            target=user,
            extra=client.as_extra(),
        )
    logger.info("sign-out user=%s ip=%s", user.pk, client.ip)
    return rows


def _attempt_record(*, action: str, username: str, client: ClientInfo) -> int:
    """Audit an attempt on ``username`` in its account's tenants; only logged when no account has it."""
    username = username[:USERNAME_MAX_CHARS]
    user = _account(username)
    if user is None:
        logger.warning("%s for an unknown username ip=%s user_agent=%r", action, client.ip, client.user_agent)
        return 0
    with transaction.atomic():
        rows = audit_for_user(
            user_id=user.pk,
            actor=ANONYMOUS,
            action=action,
            target=user,
            extra={"username": username, **client.as_extra()},
        )
    logger.warning("%s user=%s ip=%s", action, user.pk, client.ip)
    return rows


def sign_in_failure_record(*, username: str, client: ClientInfo) -> int:
    """Audit a failed sign-in (``auth.sign_in_failed``) whose password was checked and wrong."""
    return _attempt_record(action="auth.sign_in_failed", username=username, client=client)


def lockout_record(*, username: str, client: ClientInfo) -> int:
    """Audit the failure that locked sign-in out (``auth.lockout``), for the username or the address."""
    return _attempt_record(action="auth.lockout", username=username, client=client)


# --- Receivers (connected in GovernanceConfig.ready) -------------------------------------------


def _client(request: HttpRequest | None) -> ClientInfo:
    return client_info(request) if request is not None else ClientInfo(ip=UNKNOWN_ADDRESS, user_agent="")


def _refused_unchecked(request: HttpRequest | None) -> bool:
    """Whether axes refused this attempt during a lockout, without checking the password: the
    lockout is already in the trail, so such attempts are logged, not audited one by one."""
    return bool(getattr(request, "axes_locked_out", False)) and (
        getattr(request, "axes_failures_since_start", None) is None
    )


def on_user_logged_in(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser, **kwargs: Any
) -> None:
    sign_in_record(user=user, client=_client(request))


def on_user_logged_out(
    sender: Any, request: HttpRequest | None, user: AbstractBaseUser | None, **kwargs: Any
) -> None:
    if user is not None:
        sign_out_record(user=user, client=_client(request))


def on_user_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or "")
    if _refused_unchecked(request):
        logger.info("sign-in refused during a lockout ip=%s", _client(request).ip)
        return
    sign_in_failure_record(username=username, client=_client(request))


def on_user_locked_out(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    if getattr(request, "axes_failures_since_start", None) is None:
        return  # an attempt during the lockout (see _refused_unchecked), not a new lockout
    lockout_record(username=str(username or ""), client=_client(request))


def connect() -> None:
    """Connect the receivers (idempotent: each has a dispatch uid)."""
    user_logged_in.connect(on_user_logged_in, dispatch_uid="tessera.sign_in")
    user_logged_out.connect(on_user_logged_out, dispatch_uid="tessera.sign_out")
    user_login_failed.connect(on_user_login_failed, dispatch_uid="tessera.sign_in_failed")
    user_locked_out.connect(on_user_locked_out, dispatch_uid="tessera.lockout")
