"""The tenant's ledger in figures: how many answers needed no LLM call, by route, and what the LLM
calls cost (tokens and estimated money), with what the skipped calls would have cost, and what the
answer cache saved exactly (the calls of the answers it reused)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from assistant.models import Message, Role
from governance.models import Tenant


@dataclass(frozen=True, slots=True)
class RouteUsage:
    route: str
    answers: int
    without_llm: int
    by_kind: dict[str, int]


@dataclass(frozen=True, slots=True)
class Usage:
    tenant: str
    since: str | None
    answers: int
    without_llm: int
    share_without_llm: float | None
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    # What the answers given without an LLM call would have cost at this tenant's mean per call
    # (None before its first LLM call: there is nothing to estimate from).
    tokens_saved_estimate: int | None
    cost_saved_estimate_usd: float | None
    # Answers reused from the answer cache, and the tokens and cost of the LLM calls they saved (those
    # of the answers they copy, exactly; counted in the estimate above too).
    cache_hits: int
    cache_tokens_saved: int
    cache_cost_saved_usd: float
    routes: list[RouteUsage]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_start(days: int, *, now: datetime | None = None) -> datetime:
    """Midnight (in the current time zone) of the first of the last ``days`` calendar days, today
    included: the window that ``manage.py usage --days`` and the usage dashboard both report on."""
    if days < 1:
        raise ValueError("a window is at least one day")
    first = timezone.localdate(now) - timedelta(days=days - 1)
    return timezone.make_aware(datetime.combine(first, time.min))


def answers_of(tenant: Tenant, *, since: datetime | None = None) -> QuerySet[Message]:
    """The tenant's answers (assistant messages, each one the ledger row of a question) since
    ``since`` (all time when None)."""
    answers = Message.objects.filter(tenant=tenant, role=Role.ASSISTANT)
    return answers if since is None else answers.filter(created_at__gte=since)


def usage_of(tenant: Tenant, *, since: datetime | None = None) -> Usage:
    """The tenant's answers (assistant messages) since ``since`` (all time when None)."""
    answers = answers_of(tenant, since=since)
    totals = answers.aggregate(
        answers=Count("id"),
        llm_calls=Count("id", filter=Q(llm_called=True)),
        prompt=Sum("prompt_tokens", filter=Q(llm_called=True)),
        completion=Sum("completion_tokens", filter=Q(llm_called=True)),
        cost=Sum("cost_usd", filter=Q(llm_called=True)),
        cache_hits=Count("id", filter=Q(cached_from__isnull=False)),
        cache_prompt=Sum("cached_from__prompt_tokens"),
        cache_completion=Sum("cached_from__completion_tokens"),
        cache_cost=Sum("cached_from__cost_usd"),
    )
    count, calls = totals["answers"], totals["llm_calls"]
    prompt, completion = totals["prompt"] or 0, totals["completion"] or 0
    cost = totals["cost"] or Decimal(0)
    without = count - calls
    routes: dict[str, dict[str, Any]] = {}
    for row in answers.values("route", "kind", "llm_called").annotate(n=Count("id")).order_by():
        entry = routes.setdefault(row["route"] or "question", {"answers": 0, "without_llm": 0, "by_kind": {}})
        entry["answers"] += row["n"]
        entry["without_llm"] += 0 if row["llm_called"] else row["n"]
        entry["by_kind"][row["kind"]] = entry["by_kind"].get(row["kind"], 0) + row["n"]
    return Usage(
        tenant=tenant.slug,
        since=since.isoformat() if since else None,
        answers=count,
        without_llm=without,
        share_without_llm=round(without / count, 4) if count else None,
        llm_calls=calls,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=float(cost),
        tokens_saved_estimate=round(without * (prompt + completion) / calls) if calls else None,
        cost_saved_estimate_usd=round(float(cost) * without / calls, 6) if calls else None,
        cache_hits=totals["cache_hits"],
        cache_tokens_saved=(totals["cache_prompt"] or 0) + (totals["cache_completion"] or 0),
        cache_cost_saved_usd=float(totals["cache_cost"] or 0),
        routes=[RouteUsage(route=name, **entry) for name, entry in sorted(routes.items())],
    )
