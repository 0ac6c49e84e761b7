"""Sign-in throttling (django-axes) and the sign-in trail, through the sign-in page.

The lockout counts per username and per client address; it is the same page (429) whether the
account exists or not, it ends after the cool-off, and every sign-in, sign-out, failed sign-in,
lockout and password change is in the tenant's audit trail, never with a password.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from governance.models import AuditEvent, Role, Tenant
from governance.tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the factories' password
LIMIT = 10  # TESSERA_SIGNIN_FAILURE_LIMIT's default


def _sign_in(client: Client, username: str, password: str, ip: str = "198.51.100.7", **headers: Any) -> Any:
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip, **headers
    )


def _signed_in(client: Client) -> bool:
    return client.get(reverse("home")).status_code == 200


def _actions(tenant: Tenant, prefix: str = "auth.") -> list[str]:
    events = AuditEvent.objects.filter(tenant=tenant, action__startswith=prefix).order_by("id")
    return list(events.values_list("action", flat=True))


def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, member_of):
    user = member_of(TenantFactory())
    statuses = [_sign_in(client, user.username, f"guess-{n}").status_code for n in range(30)]
    assert statuses[: LIMIT - 1] == [200] * (LIMIT - 1) and set(statuses[LIMIT - 1 :]) == {429}
    response = _sign_in(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert response["Retry-After"] == str(15 * 60)
    assert "Too many sign-in attempts" in response.content.decode()
    assert not _signed_in(client)


def test_the_attempt_after_the_limit_is_refused_per_account_from_any_address(client, member_of):
    tenant = TenantFactory()
    user = member_of(tenant)
    for n in range(LIMIT - 1):
        assert _sign_in(client, user.username, "wrong", ip=f"203.0.113.{n + 1}").status_code == 200
    assert _sign_in(client, user.username, "wrong", ip="203.0.113.50").status_code == 429
    refused = _sign_in(client, user.username, PASSWORD, ip="192.0.2.99")  # limit + 1: the right password
    assert refused.status_code == 429 and not _signed_in(client)
    # Every checked failure is audited, the lockout once; the refused right password writes nothing.
    assert sorted(_actions(tenant)) == ["auth.lockout"] + ["auth.sign_in_failed"] * LIMIT
    # Another account from the same addresses is not locked.
    other = member_of(tenant)
    assert _sign_in(client, other.username, PASSWORD, ip="192.0.2.99").status_code == 302


def test_one_address_is_locked_across_usernames(client, member_of):
    tenant = TenantFactory()
    victim = member_of(tenant)
    for n in range(LIMIT):
        _sign_in(client, f"nobody-{n}", "wrong", ip="198.51.100.1")
    response = _sign_in(client, victim.username, PASSWORD, ip="198.51.100.1")
    assert response.status_code == 429 and not _signed_in(client)
    # The same account from another address signs in.
    assert _sign_in(client, victim.username, PASSWORD, ip="198.51.100.2").status_code == 302
    assert _actions(tenant) == ["auth.sign_in"]


def test_a_forged_forwarded_for_header_does_not_escape_the_address_lockout(client):
    for n in range(LIMIT):
        _sign_in(client, f"nobody-{n}", "wrong", ip="198.51.100.1", HTTP_X_FORWARDED_FOR=f"10.9.8.{n}")
    assert (
        _sign_in(client, "someone", "x", ip="198.51.100.1", HTTP_X_FORWARDED_FOR="10.1.1.1").status_code
        == 429
    )


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(client, settings, member_of):
    settings.TESSERA = {**settings.TESSERA, "TRUSTED_PROXY_COUNT": 1}
    user = member_of(TenantFactory())
    for n in range(LIMIT):  # the client forges the leftmost entry; the proxy appends the real address
        _sign_in(
            client, f"nobody-{n}", "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.9"
        )
    locked = _sign_in(client, user.username, PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert locked.status_code == 429
    other = _sign_in(client, user.username, PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 302
    event = AuditEvent.objects.get(action="auth.sign_in")
    assert event.extra["ip"] == "203.0.113.10"


def test_the_lockout_page_is_the_same_for_an_account_that_does_not_exist(member_of):
    user = member_of(TenantFactory(), username="realperson")
    pages = []
    for username, ip in ((user.username, "192.0.2.1"), ("ghostperson", "192.0.2.2")):
        client = Client()
        for _ in range(LIMIT):
            _sign_in(client, username, "wrong", ip=ip)
        response = _sign_in(client, username, "wrong", ip=ip)
        assert response.status_code == 429 and username not in response.content.decode()
        pages.append(response.content.decode().split('<main id="main">')[1])
    assert pages[0] == pages[1]


def test_the_lockout_ends_after_the_cool_off_and_attempts_during_it_do_not_extend_it(client, member_of):
    user = member_of(TenantFactory())
    start = timezone.now()
    with time_machine.travel(start, tick=False) as clock:
        for _ in range(LIMIT):
            _sign_in(client, user.username, "wrong")
        clock.move_to(start + timedelta(minutes=10))
        assert _sign_in(client, user.username, PASSWORD).status_code == 429  # still locked
        clock.move_to(start + timedelta(minutes=16))
        assert _sign_in(client, user.username, PASSWORD).status_code == 302  # the cool-off has passed
        assert _signed_in(client)
        client.post(reverse("logout"))
        # The success cleared the account's failures: one more mistake is just a mistake.
        assert _sign_in(client, user.username, "wrong").status_code == 200


def test_failed_sign_ins_are_audited_in_each_tenant_of_the_account_never_the_password(client, member_of):
    first, second = TenantFactory(), TenantFactory()
    user = member_of(first, username="erin")
    MembershipFactory(tenant=second, user=user)
    response = _sign_in(client, "erin", "hunter2-wrong", HTTP_USER_AGENT="Probe/1.0 " + "x" * 500)
    assert response.status_code == 200 and b"didn't match" in response.content
    for tenant in (first, second):
        event = AuditEvent.objects.get(tenant=tenant, action="auth.sign_in_failed")
        assert event.actor_id is None and event.actor_label == "anonymous"
        assert (event.target_type, event.target_id) == ("user", str(user.pk))
        assert event.extra["username"] == "erin" and event.extra["ip"] == "198.51.100.7"
        assert event.extra["user_agent"].startswith("Probe/1.0") and len(event.extra["user_agent"]) == 200
        assert "hunter2" not in str(event.extra)


def test_a_failed_sign_in_for_an_unknown_username_is_only_logged(client, caplog):
    tenant = TenantFactory()
    with caplog.at_level(logging.INFO):
        response = _sign_in(client, "ghost", "hunter2-secret")
    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action__startswith="auth.").exists()
    assert not AuditEvent.objects.filter(tenant=tenant).exists()
    assert "auth.sign_in_failed for an unknown username ip=198.51.100.7" in caplog.text
    assert "hunter2" not in caplog.text


def test_sign_in_and_sign_out_are_audited(member_of):
    client = Client(enforce_csrf_checks=True)
    tenant = TenantFactory()
    user = member_of(tenant, role=Role.MEMBER)
    page = client.get(reverse("login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("login"),
        {"username": user.username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        REMOTE_ADDR="192.0.2.10",
        HTTP_USER_AGENT="Firefox/140",
    )
    assert response.status_code == 302 and _signed_in(client)
    signed_in = AuditEvent.objects.get(tenant=tenant, action="auth.sign_in")
    assert signed_in.actor_id == user.pk and signed_in.actor_label == user.username
    assert signed_in.extra == {"ip": "192.0.2.10", "user_agent": "Firefox/140"}
    token = client.cookies["csrftoken"].value
    assert client.post(reverse("logout"), {"csrfmiddlewaretoken": token}).status_code == 302
    assert not _signed_in(client)
    assert _actions(tenant) == ["auth.sign_in", "auth.sign_out"]
    assert AuditEvent.objects.get(action="auth.sign_out").actor_id == user.pk


def test_a_password_change_is_audited_without_the_password(client, member_of):
    tenant = TenantFactory()
    user = member_of(tenant)
    client.force_login(user)
    response = client.post(
        reverse("governance:password_change"),
        {"old_password": PASSWORD, "new_password1": "Tr0ub4dor&3x-new", "new_password2": "Tr0ub4dor&3x-new"},
        REMOTE_ADDR="192.0.2.20",
    )
    assert response.status_code == 302 and _signed_in(client)
    event = AuditEvent.objects.get(tenant=tenant, action="auth.password_change")
    assert event.actor_id == user.pk and event.extra["ip"] == "192.0.2.20"
    assert "Tr0ub4dor" not in str(event.extra) and PASSWORD not in str(event.extra)
    refused = client.post(
        reverse("governance:password_change"),
        {"old_password": "wrong", "new_password1": "Tr0ub4dor&3x-2", "new_password2": "Tr0ub4dor&3x-2"},
    )
    assert refused.status_code == 400
    assert AuditEvent.objects.filter(action="auth.password_change").count() == 1
