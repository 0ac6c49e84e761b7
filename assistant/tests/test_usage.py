"""`usage_of` and `manage.py usage`: the ledger's figures from stored answers."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from assistant.models import Conversation, Message, Role
from assistant.tests.usage_ledger import NOW
from assistant.usage.ledger import usage_of, window_start
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def _answer(tenant, *, route="question", kind="answered", llm=True, prompt=0, completion=0, cost="0"):
    conversation = Conversation.objects.create(tenant=tenant, title="t")
    asked = Message.objects.create(tenant=tenant, conversation=conversation, role=Role.USER, text="q")
    return Message.objects.create(
        tenant=tenant,
        conversation=conversation,
        role=Role.ASSISTANT,
        reply_to=asked,
        text="a",
        route=route,
        kind=kind,
        llm_called=llm,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=Decimal(cost),
    )


@pytest.fixture(autouse=True)
def clock(time_machine):
    """An afternoon: "today" and "yesterday" do not move under a test that runs across midnight."""
    time_machine.move_to(NOW, tick=True)


@pytest.fixture
def tenant():
    tenant = TenantFactory(slug="acme")
    _answer(tenant, prompt=300, completion=100, cost="0.004")
    _answer(tenant, prompt=500, completion=100, cost="0.006")
    _answer(tenant, kind="not_found", llm=False)
    _answer(tenant, route="smalltalk", kind="no_llm", llm=False)
    _answer(tenant, route="smalltalk", kind="no_llm", llm=False)
    _answer(TenantFactory(), prompt=9999, cost="9")  # another tenant's: never counted
    return tenant


def test_the_share_without_an_llm_call_by_route_and_what_it_saved(tenant):
    usage = usage_of(tenant)
    assert (usage.answers, usage.without_llm, usage.llm_calls) == (5, 3, 2)
    assert usage.share_without_llm == 0.6
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cost_usd) == (800, 200, 0.01)
    assert usage.tokens_saved_estimate == 1500  # 3 answers at the mean of 500 tokens a call
    assert usage.cost_saved_estimate_usd == pytest.approx(0.015)
    routes = {r.route: r for r in usage.routes}
    assert routes["question"].answers == 3 and routes["question"].without_llm == 1
    assert routes["question"].by_kind == {"answered": 2, "not_found": 1}
    assert routes["smalltalk"].without_llm == 2


def test_answers_from_the_cache_show_the_tokens_and_cost_they_saved(tenant):
    original = Message.objects.get(tenant=tenant, prompt_tokens=300)
    for _ in range(2):
        hit = _answer(tenant, llm=False)
        Message.objects.filter(pk=hit.pk).update(cached_from=original)
    usage = usage_of(tenant)
    assert (usage.cache_hits, usage.cache_tokens_saved) == (2, 800)  # twice the original's 300 + 100
    assert usage.cache_cost_saved_usd == pytest.approx(0.008)
    assert usage.llm_calls == 2 and usage.prompt_tokens == 800  # a hit adds no tokens of its own
    assert usage_of(TenantFactory()).cache_hits == 0
    out = StringIO()
    call_command("usage", tenant="acme", stdout=out)
    assert "answer cache: 2 hits, 800 tokens and $0.0080 saved" in out.getvalue()


def test_no_llm_call_yet_means_nothing_to_estimate_from():
    tenant = TenantFactory()
    _answer(tenant, route="smalltalk", kind="no_llm", llm=False)
    usage = usage_of(tenant)
    assert usage.share_without_llm == 1.0 and usage.tokens_saved_estimate is None
    assert usage_of(TenantFactory()).share_without_llm is None


def test_a_window_leaves_older_answers_out(tenant):
    Message.objects.filter(tenant=tenant, route="smalltalk").update(
        created_at=timezone.now() - timedelta(days=40)
    )
    assert usage_of(tenant, since=timezone.now() - timedelta(days=30)).answers == 3


def test_the_command_prints_json_and_a_table(tenant):
    out = StringIO()
    call_command("usage", tenant="acme", json=True, stdout=out)
    figures = json.loads(out.getvalue().strip().splitlines()[-1])
    assert figures["share_without_llm"] == 0.6 and figures["tenant"] == "acme"
    out = StringIO()
    call_command("usage", tenant="acme", stdout=out)
    assert "without an LLM call 3 (60.0%)" in out.getvalue()
    assert "smalltalk: 2 answers, 2 without LLM" in out.getvalue()
    with pytest.raises(CommandError, match="No tenant"):
        call_command("usage", tenant="nobody")


def test_days_are_calendar_days_today_included_as_on_the_usage_page(tenant):
    yesterday_late = window_start(1) - timedelta(minutes=1)  # under 24 hours ago, yet yesterday
    Message.objects.filter(tenant=tenant, route="smalltalk").update(created_at=yesterday_late)
    out = StringIO()
    call_command("usage", tenant="acme", days=1, json=True, stdout=out)
    assert json.loads(out.getvalue())["answers"] == 3
    out = StringIO()
    call_command("usage", tenant="acme", days=2, json=True, stdout=out)
    assert json.loads(out.getvalue())["answers"] == 5
