"""The usage dashboard's selectors on a generated ledger spread over several days."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from assistant.models import AnswerKind
from assistant.tests.usage_ledger import NOW, feedback_row, ledger_row
from assistant.usage.ledger import usage_of, window_start
from assistant.usage.selectors import gap_key, knowledge_gaps, latency_by_stage, usage_by_day, usage_dashboard
from governance.tests.factories import TenantFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _utc(settings):
    settings.TIME_ZONE = "UTC"  # the days below are UTC days


def days_ago(days, hour=12):
    return (NOW - timedelta(days=days)).replace(hour=hour)


def test_the_window_starts_at_midnight_of_the_first_day_today_included():
    assert window_start(7, now=NOW) == datetime(2026, 11, 17, tzinfo=timezone.get_fixed_timezone(0))
    assert window_start(1, now=NOW) == datetime(2026, 11, 23, tzinfo=timezone.get_fixed_timezone(0))
    with pytest.raises(ValueError, match="at least one day"):
        window_start(0, now=NOW)


def test_figures_per_day_cover_every_day_and_add_up_to_the_totals():
    tenant = TenantFactory()
    ledger_row(
        tenant, at=days_ago(0), llm=True, prompt_tokens=300, completion_tokens=100, cost_usd=Decimal("0.004")
    )
    ledger_row(tenant, at=days_ago(0, hour=1), route="smalltalk", kind=AnswerKind.NO_LLM)
    original = ledger_row(
        tenant, at=days_ago(2), llm=True, prompt_tokens=500, completion_tokens=50, cost_usd=Decimal("0.005")
    )
    ledger_row(tenant, at=days_ago(2), cached_from=original)
    ledger_row(tenant, at=days_ago(2), kind=AnswerKind.NOT_FOUND)
    ledger_row(tenant, at=days_ago(9), llm=True, prompt_tokens=999)  # before the window
    ledger_row(TenantFactory(), at=days_ago(0), llm=True, prompt_tokens=7777)  # another tenant's

    since = window_start(7, now=NOW)
    days = usage_by_day(tenant, since=since, days=7)
    assert [d.day.isoformat() for d in (days[0], days[-1])] == ["2026-11-17", "2026-11-23"]
    assert len(days) == 7
    by_date = {d.day.day: d for d in days}
    today, two_days_ago = by_date[23], by_date[21]
    assert (today.answers, today.without_llm, today.llm_calls, today.tokens) == (2, 1, 1, 400)
    assert today.cost_usd == pytest.approx(0.004)
    assert (two_days_ago.answers, two_days_ago.without_llm, two_days_ago.tokens, two_days_ago.cache_hits) == (
        3,
        2,
        550,
        1,
    )
    assert all(d.answers == 0 for d in days if d.day.day not in (21, 23))

    totals = usage_of(tenant, since=since)
    assert totals.answers == sum(d.answers for d in days) == 5
    assert totals.without_llm == sum(d.without_llm for d in days) == 3
    assert totals.prompt_tokens + totals.completion_tokens == sum(d.tokens for d in days)
    assert totals.cost_usd == pytest.approx(sum(d.cost_usd for d in days))
    assert totals.cache_hits == sum(d.cache_hits for d in days)


def test_share_without_an_llm_by_route():
    tenant = TenantFactory()
    for n in range(4):
        ledger_row(tenant, at=days_ago(n), llm=n < 3)  # 3 LLM calls, 1 without
    for n in range(3):
        ledger_row(tenant, at=days_ago(n), route="smalltalk", kind=AnswerKind.NO_LLM)
    ledger_row(tenant, at=days_ago(1), kind=AnswerKind.NOT_FOUND)
    dashboard = usage_dashboard(tenant, days=30, now=NOW)
    routes = {r.route: (r.answers, r.without_llm) for r in dashboard.totals.routes}
    assert routes == {"question": (5, 2), "smalltalk": (3, 3)}
    assert dashboard.totals.share_without_llm == pytest.approx(5 / 8)


def test_latency_p50_and_p95_per_stage_are_exact_on_known_timings():
    tenant = TenantFactory()
    for n in range(21):  # retrieve: 0..20 ms on every answer
        timings = {"retrieve": float(n), "total": 10.0 * n, "cache_similarity": 0.99}
        if 1 <= n <= 4:
            timings["llm_total"] = 100.0 * n  # 100..400 ms on four of them
        ledger_row(tenant, at=days_ago(n % 5), timings_ms=timings)
    ledger_row(tenant, at=days_ago(1), timings_ms={"route": True, "verify": "fast"})  # not timings
    ledger_row(TenantFactory(), at=days_ago(1), timings_ms={"retrieve": 10_000.0})

    latency = {s.stage: s for s in latency_by_stage(tenant, since=window_start(30, now=NOW))}
    assert list(latency) == ["retrieve", "llm_total", "total"]  # the pipeline's order; unused stages left out
    assert (latency["retrieve"].samples, latency["retrieve"].p50_ms, latency["retrieve"].p95_ms) == (
        21,
        10.0,
        19.0,
    )
    assert (latency["llm_total"].samples, latency["llm_total"].p50_ms, latency["llm_total"].p95_ms) == (
        4,
        250.0,
        385.0,
    )
    assert (latency["total"].p50_ms, latency["total"].p95_ms) == (100.0, 190.0)


def test_knowledge_gaps_group_the_same_question_and_rank_by_count_then_recency():
    tenant = TenantFactory()
    gap = AnswerKind.NOT_FOUND
    ledger_row(tenant, "How do I reset the VPN?", at=days_ago(5), kind=gap)
    ledger_row(tenant, "how do i  reset the vpn", at=days_ago(3), kind=gap)
    ledger_row(tenant, "  HOW do I reset the VPN?? ", at=days_ago(1), kind=gap)
    ledger_row(tenant, "Resetting my VPN", at=days_ago(4), kind=gap)  # another wording, same question
    ledger_row(tenant, "How many days of leave in 2025?", at=days_ago(6), kind=gap)
    ledger_row(tenant, "how many days of leave in 2026?", at=days_ago(7), kind=gap)  # another year: apart
    ledger_row(tenant, "Where is the printer?", at=days_ago(2), kind=gap)
    ledger_row(tenant, "Who signs expenses?", at=days_ago(0), kind=gap)
    ledger_row(tenant, "How do I reset the VPN?", at=days_ago(0), kind=AnswerKind.ANSWERED)  # answered
    ledger_row(tenant, "Where is the printer?", at=days_ago(45), kind=gap)  # before the window
    ledger_row(TenantFactory(), "Where is the printer?", at=days_ago(0), kind=gap)  # another tenant

    gaps = knowledge_gaps(tenant, since=window_start(30, now=NOW))
    assert [(g.question, g.count) for g in gaps] == [
        ("HOW do I reset the VPN??", 4),  # the latest wording
        ("Who signs expenses?", 1),  # ties: the most recent first
        ("Where is the printer?", 1),
        ("How many days of leave in 2025?", 1),
        ("how many days of leave in 2026?", 1),
    ]
    assert (gaps[0].last_asked, gaps[0].wordings) == (
        days_ago(1),
        2,
    )  # "how do i reset the vpn", "resetting my vpn"
    assert [g.count for g in knowledge_gaps(tenant, since=window_start(30, now=NOW), limit=1)] == [4]


def test_the_gap_key_keeps_what_a_question_asks_about():
    assert gap_key("How do I reset the VPN?") == gap_key("resetting my vpn") == frozenset({"reset", "vpn"})
    assert gap_key("Leave in 2025?") != gap_key("Leave in 2026?")
    assert gap_key("What is it?") == frozenset()


def test_feedback_in_the_period_counts_and_its_latest_comments():
    tenant, other = TenantFactory(), TenantFactory()
    answer = ledger_row(tenant, at=days_ago(1))
    feedback_row(answer, UserFactory(), "up", at=days_ago(1))
    feedback_row(answer, UserFactory(), "up", "Spot on", at=days_ago(2))
    feedback_row(answer, UserFactory(), "down", "Too vague", at=days_ago(0))
    feedback_row(answer, UserFactory(), "down", "Old news", at=days_ago(40))  # before the window
    feedback_row(ledger_row(other), UserFactory(), "down", "Elsewhere", at=days_ago(0))
    feedback = usage_dashboard(tenant, days=30, now=NOW).feedback
    assert (feedback.up, feedback.down) == (2, 1)
    assert [c.comment for c in feedback.recent_comments] == ["Too vague", "Spot on"]
