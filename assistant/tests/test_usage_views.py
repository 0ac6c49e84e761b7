"""The usage dashboard through HTTP: who may see it, whose figures it shows, and that they are the
figures ``manage.py usage`` prints."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from assistant.models import AnswerKind
from assistant.tests.usage_ledger import NOW, feedback_row, ledger_row
from governance.models import Role
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db
URL = reverse("usage:dashboard")


@pytest.fixture(autouse=True)
def clock(time_machine):
    """Every test here runs on the ledger's day (``NOW``), so the windows the page and the command
    take from the clock hold the rows ``ledger_row`` dates at ``NOW``, whatever today is."""
    time_machine.move_to(NOW, tick=True)


@pytest.fixture
def acme(member_of):
    tenant = TenantFactory(slug="acme", name="Acme")
    now = timezone.now()
    ledger_row(
        tenant,
        "How long is parental leave?",
        at=now,
        llm=True,
        prompt_tokens=300,
        completion_tokens=100,
        cost_usd=Decimal("0.004"),
        timings_ms={"retrieve": 12.0, "llm_total": 800.0, "total": 900.0},
    )
    ledger_row(
        tenant,
        "hi",
        at=now - timedelta(days=1),
        route="smalltalk",
        kind=AnswerKind.NO_LLM,
        timings_ms={"route": 3.0, "total": 4.0},
    )
    ledger_row(
        tenant,
        "<script>alert('gap')</script> Who approves travel?",
        at=now - timedelta(days=2),
        kind=AnswerKind.NOT_FOUND,
    )
    ledger_row(
        tenant, "Old question about the canteen", at=now - timedelta(days=20), kind=AnswerKind.NOT_FOUND
    )
    return tenant


def test_an_admin_sees_charts_tables_and_gaps(client, acme, member_of):
    client.force_login(member_of(acme, role=Role.ADMIN))
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('role="img"') == 5  # questions, LLM use, tokens, cost, latency
    assert "<caption>Questions per day</caption>" in html
    assert "Who approves travel?" in html and "Old question about the canteen" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#x27;gap&#x27;)&lt;/script&gt;" in html
    assert re.search(r"<th scope=\"row\">LLM</th><td class=\"num\">1</td><td class=\"num\">800.0</td>", html)
    assert 'href="/usage/"' in html  # the navigation's link
    assert '<option value="30" selected>' in html  # the default period, shown as chosen
    today, yesterday = timezone.localdate(), timezone.localdate() - timedelta(days=1)
    cells = '<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td>'
    assert f'<th scope="row">{today}</th>' + cells.format(0, 1, "0.0%") in html  # without, with, share
    assert f'<th scope="row">{yesterday}</th>' + cells.format(1, 0, "100.0%") in html


def test_the_range_selects_the_days(client, acme, member_of):
    client.force_login(member_of(acme, role=Role.ADMIN))
    html = client.get(URL, {"days": "7"}).content.decode()
    assert "Who approves travel?" in html and "Old question about the canteen" not in html
    assert '<option value="7" selected>' in html
    assert html.count('<th scope="row">20') == 7 * 4  # a row a day in each daily chart's table


@pytest.mark.parametrize("days", ["5", "abc", "-30", "30000"])
def test_a_range_not_offered_is_a_clear_400(client, acme, member_of, days):
    client.force_login(member_of(acme, role=Role.ADMIN))
    response = client.get(URL, {"days": days})
    assert response.status_code == 400
    assert "Choose a period of 7, 30 or 90 days." in response.content.decode()


def test_members_and_strangers_are_kept_out(client, acme, member_of):
    assert client.get(URL).status_code == 302  # to the sign-in page
    client.force_login(member_of(acme, role=Role.MEMBER))
    response = client.get(URL)
    assert response.status_code == 403 and b"Who approves travel" not in response.content


def test_another_tenants_questions_never_appear(client, acme, member_of):
    globex = TenantFactory(slug="globex")
    ledger_row(
        globex,
        "Globex merger codename?",
        kind=AnswerKind.NOT_FOUND,
        llm=False,
        timings_ms={"retrieve": 99_999.0},
    )
    ledger_row(globex, "Globex budget", llm=True, prompt_tokens=50_000, cost_usd=Decimal("7"))
    client.force_login(member_of(acme, role=Role.ADMIN))
    html = client.get(URL).content.decode()
    assert "Globex" not in html and "99,999" not in html and "99999" not in html
    assert '<dd data-figure="answers">4</dd>' in html
    client.force_login(member_of(globex, role=Role.ADMIN))
    html = client.get(URL).content.decode()
    assert "Globex merger codename?" in html and "Who approves travel?" not in html


def test_similar_gaps_are_one_row_with_their_count(client, acme, member_of):
    now = timezone.now()
    ledger_row(acme, "who approves TRAVEL", at=now - timedelta(hours=2), kind=AnswerKind.NOT_FOUND)
    ledger_row(acme, "Approval of travel?", at=now - timedelta(hours=1), kind=AnswerKind.NOT_FOUND)
    client.force_login(member_of(acme, role=Role.ADMIN))
    html = client.get(URL).content.decode()
    row = (
        '<td>Approval of travel? <span class="muted">(and 1 other wording)</span></td><td class="num">2</td>'
    )
    assert row in html and "who approves TRAVEL" not in html  # the latest wording stands for both


def test_the_page_costs_the_same_few_queries_however_many_answers(
    client, acme, member_of, django_assert_max_num_queries
):
    for n in range(40):
        ledger_row(acme, f"gap {n}", kind=AnswerKind.NOT_FOUND, timings_ms={"retrieve": float(n)})
    client.force_login(member_of(acme, role=Role.ADMIN))
    with django_assert_max_num_queries(13):  # 12, and the header's count of pending invitations
        assert client.get(URL).status_code == 200


def _figures(html):
    return dict(re.findall(r'<dd data-figure="(\w+)">([^<]*)</dd>', html))


@pytest.mark.parametrize("days", [7, 30])
def test_the_page_and_the_usage_command_agree(client, acme, member_of, days):
    original = ledger_row(
        acme, "cached?", llm=True, prompt_tokens=500, completion_tokens=20, cost_usd=Decimal("0.01")
    )
    ledger_row(acme, "cached?", cached_from=original)
    out = StringIO()
    call_command("usage", tenant="acme", days=days, json=True, stdout=out)
    usage = json.loads(out.getvalue())
    client.force_login(member_of(acme, role=Role.ADMIN))
    figures = _figures(client.get(URL, {"days": days}).content.decode())
    assert figures["answers"] == f"{usage['answers']:,}"
    assert figures["without_llm"] == f"{usage['without_llm']:,} ({usage['share_without_llm']:.1%})"
    assert figures["llm_calls"] == str(usage["llm_calls"])
    assert figures["tokens"] == f"{usage['prompt_tokens'] + usage['completion_tokens']:,}"
    assert figures["cost_usd"] == f"${usage['cost_usd']:.4f}"
    assert figures["tokens_saved_estimate"] == f"~{usage['tokens_saved_estimate']:,}"
    assert figures["cost_saved_estimate_usd"] == f"~${usage['cost_saved_estimate_usd']:.4f}"
    assert figures["cache_hits"] == str(usage["cache_hits"]) == "1"
    assert figures["cache_tokens_saved"] == f"{usage['cache_tokens_saved']:,}" == "520"
    assert usage["answers"] == (5 if days == 7 else 6)  # the 20-day-old gap only in 30 days


def test_a_tenant_with_no_answers_yet_gets_empty_charts_not_an_error(client, member_of):
    client.force_login(member_of(TenantFactory(), role=Role.ADMIN))
    html = client.get(URL, {"days": "90"}).content.decode()
    assert html.count('role="img"') == 4  # no latency chart without timings
    assert "No timings in this period." in html and "None in this period." in html
    assert '<dd data-figure="without_llm">0 (-)</dd>' in html


def test_the_feedback_panel_shows_this_tenants_verdicts_and_comments_escaped(client, acme, member_of):
    admin = member_of(acme, role=Role.ADMIN)
    answer = ledger_row(acme, "Meals?")
    now = timezone.now()
    feedback_row(answer, admin, "down", "<img src=x onerror=alert(1)> wrong figure", at=now)
    feedback_row(answer, member_of(acme), "up", at=now)
    globex = TenantFactory()
    feedback_row(ledger_row(globex, "Globex?"), member_of(globex), "down", "Globex complaint", at=now)
    client.force_login(admin)
    html = client.get(URL).content.decode()
    figures = _figures(html)
    assert (figures["feedback_up"], figures["feedback_down"], figures["feedback_share_up"]) == (
        "1",
        "1",
        "50.0%",
    )
    assert "&lt;img src=x onerror=alert(1)&gt; wrong figure" in html and "<img src=x" not in html
    assert "Globex complaint" not in html
