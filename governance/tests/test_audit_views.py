"""The audit log viewer: filters in the query string, pagination, and the streamed CSV export with
formula injection neutralised and nothing secret or textual shown."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from governance.audit_export import csv_safe, public_details
from governance.models import AuditEvent, Role
from governance.services import Actor, audit_record
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _event(tenant, action, actor="alice", when=None, extra=None):
    event = audit_record(tenant=tenant, actor=Actor(label=actor), action=action, extra=extra)
    if when is not None:
        # created_at is set on insert and the rows are append-only: move it in time with raw SQL
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {AuditEvent._meta.db_table} SET created_at = %s WHERE id = %s",  # noqa: S608
                [connection.ops.adapt_datetimefield_value(when), event.pk],
            )
    return event


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN, username="root"))
    client.tenant = tenant
    return client


def _export(client, query=""):
    response = client.get(reverse("governance:audit_export") + query)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_filters_by_action_actor_and_dates_from_the_query_string(admin_client):
    tenant = admin_client.tenant
    day = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    _event(tenant, "document.upload", "alice", day - timedelta(days=2))
    _event(tenant, "document.delete", "bob", day)
    _event(tenant, "membership.create", "alice", day + timedelta(days=1))
    _event(TenantFactory(), "document.upload", "alice", day)  # another tenant's
    url = reverse("governance:audit_log")

    def shown(query):
        response = admin_client.get(url + query)
        body = response.content.decode().split("<tbody>")[1]
        assert response.status_code == 200
        lines = [line for line in response.context["lines"] if not line.action.startswith("auth.")]
        return sorted(line.action for line in lines if line.action in body)  # the admin's sign-in aside

    assert shown("?action=document.") == ["document.delete", "document.upload"]
    assert shown("?actor=bob") == ["document.delete"]
    assert shown("?date_from=2026-03-10") == ["document.delete", "membership.create"]
    assert shown("?date_from=2026-03-09&date_to=2026-03-10") == ["document.delete"]  # end date included
    assert shown("?actor=alice&date_to=2026-03-10") == ["document.upload"]
    assert admin_client.get(url + "?action=document.").context["page"].paginator.count == 2


def test_bad_filters_are_a_400_with_the_error_at_the_field(admin_client):
    url = reverse("governance:audit_log")
    response = admin_client.get(url + "?date_from=2026-03-10&date_to=2026-03-01")
    html = response.content.decode()
    assert response.status_code == 400 and "end date is before the start date" in html
    assert 'id="id_date_to_error"' in html and 'aria-describedby="id_date_to_help id_date_to_error"' in html
    assert admin_client.get(url + "?date_from=yesterday").status_code == 400
    assert admin_client.get(reverse("governance:audit_export") + "?date_from=nope").status_code == 400


def test_pagination_keeps_the_filters(admin_client):
    tenant = admin_client.tenant
    for i in range(55):
        _event(tenant, "intent_example.create", extra={"n": i})
    _event(tenant, "other.thing")
    url = reverse("governance:audit_log")
    first = admin_client.get(url + "?action=intent_example")
    html = first.content.decode()
    assert first.context["page"].paginator.num_pages == 2 and "Page 1 of 2 (55 events)" in html
    assert 'href="?action=intent_example&amp;page=2"' in html
    second = admin_client.get(url + "?action=intent_example&page=2")
    assert len(second.context["lines"]) == 5
    assert admin_client.get(url + "?page=99").context["page"].number == 1 + 1  # past the end: the last


def test_csv_export_has_every_filtered_row_and_neutralises_formulas(admin_client):
    tenant = admin_client.tenant
    _event(tenant, "document.upload", actor='=HYPERLINK("http://evil")', extra={"kind": "+cmd"})
    _event(tenant, "document.upload", actor="@SUM(A1)")
    _event(tenant, "document.upload", actor="-2+3")
    _event(tenant, "membership.create", actor="plain")
    rows = _export(admin_client, "?action=document.upload")
    assert rows[0] == ["time", "actor", "action", "target_type", "target_id", "details"]
    assert len(rows) == 4  # header + the three uploads, not the membership
    actors = sorted(r[1] for r in rows[1:])
    assert actors == ["'-2+3", '\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    assert any(r[5] == "kind=+cmd" for r in rows[1:])  # inside a cell, not at its start: left alone
    assert [r[1] for r in _export(admin_client, "?actor=plain")[1:]] == ["plain"]


def test_secrets_and_texts_are_never_shown_or_exported(admin_client):
    tenant = admin_client.tenant
    _event(
        tenant,
        "weird.event",
        extra={"secret": "s3cr3t", "password": "hunter2", "text": "confidential body", "route": "question",
               "changed": {"llm_model": ["a", "b"], "api_secret": "x-leak"}},
    )  # fmt: skip
    html = admin_client.get(reverse("governance:audit_log")).content.decode()
    csv_text = str(_export(admin_client))
    for leaked in ("s3cr3t", "hunter2", "confidential body", "x-leak"):
        assert leaked not in html and leaked not in csv_text
    assert "route=question" in html and "llm_model" in csv_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\t=x", "'\t=x"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_csv_safe(value, expected):
    assert csv_safe(value) == expected


def test_public_details_drops_hidden_keys():
    assert public_details({"b": 1, "a": "x", "question": "q?", "reply": "r"}) == "a=x; b=1"


@pytest.mark.parametrize("name", ["governance:audit_log", "governance:audit_export"])
def test_audit_pages_are_for_admins_only(client, member_of, name):
    client.force_login(member_of(TenantFactory(), role=Role.MEMBER))
    assert client.get(reverse(name)).status_code == 403
