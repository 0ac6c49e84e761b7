"""The usage dashboard's figures, read from the tenant's ledger (its assistant messages): the
totals of ``assistant.usage.ledger.usage_of`` (the same ones ``manage.py usage`` prints), the same figures
day by day, latency percentiles per pipeline stage, the questions the documents did not answer, and
what users said of the answers (``assistant.chat.selectors.feedback_summary``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from assistant.chat.selectors import FeedbackSummary, feedback_summary
from assistant.models import AnswerKind
from assistant.usage.ledger import Usage, answers_of, usage_of, window_start
from governance.models import Tenant
from retrieval.bm25_tokenizer import ENGLISH_STOPWORDS, Bm25Tokenizer
from retrieval.metrics import percentile
from retrieval.question_match import key_terms, normalise

RANGES = (7, 30, 90)  # the dashboard's choices, in days
DEFAULT_RANGE = 30
# The pipeline's timed stages (keys of Message.timings_ms, in the order a question meets them).
STAGES: tuple[tuple[str, str], ...] = (
    ("route", "Route"),
    ("kb_check", "KB check"),
    ("retrieve", "Retrieve"),
    ("compress", "Compress"),
    ("answerability", "Answerability"),
    ("cache", "Cache"),
    ("llm_first_token", "LLM 1st token"),
    ("llm_total", "LLM"),
    ("verify", "Verify"),
    ("total", "Total"),
)
GAPS_SHOWN = 10
FEEDBACK_COMMENTS_SHOWN = 10
# Words that make a question a question but say nothing of what it asks about.
# fmt: off
QUESTION_WORDS = frozenset({
    "how", "what", "when", "where", "which", "who", "whom", "whose", "why", "can", "could", "do", "does",
    "did", "should", "would", "may", "might", "must", "has", "have", "had", "am", "were", "been", "being",
    "we", "our", "my", "me", "you", "your", "its", "any", "some", "get",
})
# fmt: on
_GAP_WORDS = Bm25Tokenizer(stopwords=ENGLISH_STOPWORDS | QUESTION_WORDS)


@dataclass(frozen=True, slots=True)
class DayUsage:
    day: date
    answers: int
    without_llm: int
    llm_calls: int
    tokens: int
    cost_usd: float
    cache_hits: int


@dataclass(frozen=True, slots=True)
class StageLatency:
    stage: str
    label: str
    samples: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True, slots=True)
class KnowledgeGap:
    """Questions with the same normalised text that were answered "not in your documents"."""

    question: str  # the latest wording
    count: int
    last_asked: datetime
    wordings: int = 1  # how many different (normalised) wordings were grouped


@dataclass(frozen=True, slots=True)
class UsageDashboard:
    days: int
    since: datetime
    totals: Usage
    by_day: list[DayUsage]
    latency: list[StageLatency]
    gaps: list[KnowledgeGap]
    feedback: FeedbackSummary  # thumbs given or changed in the period, and the latest comments


def usage_dashboard(tenant: Tenant, *, days: int, now: datetime | None = None) -> UsageDashboard:
    """Everything the dashboard shows for the tenant's last ``days`` calendar days, today included."""
    since = window_start(days, now=now)
    return UsageDashboard(
        days=days,
        since=since,
        totals=usage_of(tenant, since=since),
        by_day=usage_by_day(tenant, since=since, days=days),
        latency=latency_by_stage(tenant, since=since),
        gaps=knowledge_gaps(tenant, since=since),
        feedback=feedback_summary(tenant_id=tenant.pk, since=since, comments=FEEDBACK_COMMENTS_SHOWN),
    )


def usage_by_day(tenant: Tenant, *, since: datetime, days: int) -> list[DayUsage]:
    """One row per calendar day (current time zone) from ``since``'s, ``days`` of them; days
    without answers are zeros."""
    rows = (
        answers_of(tenant, since=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            answers=Count("id"),
            llm_calls=Count("id", filter=Q(llm_called=True)),
            prompt=Sum("prompt_tokens", filter=Q(llm_called=True)),
            completion=Sum("completion_tokens", filter=Q(llm_called=True)),
            cost=Sum("cost_usd", filter=Q(llm_called=True)),
            cache_hits=Count("id", filter=Q(cached_from__isnull=False)),
        )
        .order_by("day")
    )
    found = {row["day"]: row for row in rows}
    first = timezone.localdate(since)
    return [
        _day(first + timedelta(days=offset), found.get(first + timedelta(days=offset)))
        for offset in range(days)
    ]


def _day(day: date, row: dict[str, Any] | None) -> DayUsage:
    if row is None:
        return DayUsage(day=day, answers=0, without_llm=0, llm_calls=0, tokens=0, cost_usd=0.0, cache_hits=0)
    answers, calls = row["answers"], row["llm_calls"]
    return DayUsage(
        day=day,
        answers=answers,
        without_llm=answers - calls,
        llm_calls=calls,
        tokens=(row["prompt"] or 0) + (row["completion"] or 0),
        cost_usd=float(row["cost"] or Decimal(0)),
        cache_hits=row["cache_hits"],
    )


def latency_by_stage(tenant: Tenant, *, since: datetime) -> list[StageLatency]:
    """p50 and p95 (linear interpolation) of each stage's stored time, over the answers that went
    through it; stages no answer went through are left out."""
    timings = answers_of(tenant, since=since).values_list("timings_ms", flat=True)
    samples = _stage_samples(timings.iterator(chunk_size=2000))
    latency = []
    for stage, label in STAGES:
        values = samples[stage]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        if p50 is not None and p95 is not None:
            latency.append(StageLatency(stage, label, len(values), round(p50, 1), round(p95, 1)))
    return latency


def _stage_samples(rows: Iterable[object]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {stage: [] for stage, _ in STAGES}
    for timings in rows:
        if not isinstance(timings, dict):
            continue
        for stage, values in samples.items():
            value = timings.get(stage)
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.append(float(value))
    return samples


def gap_key(question: str) -> frozenset[str]:
    """What a question asks about, for grouping similar ones: its content words, stemmed (case,
    punctuation, word order, stop and question words aside: "How do I reset the VPN?" and "resetting
    my vpn" are one), and its numbers and names kept whole, so "leave in 2025" and "leave in 2026" stay
    apart. Empty for a question of stop words only (grouped by its normalised text instead)."""
    return frozenset(_GAP_WORDS(question)) | key_terms(question)


def knowledge_gaps(tenant: Tenant, *, since: datetime, limit: int = GAPS_SHOWN) -> list[KnowledgeGap]:
    """The questions most often answered "not in your documents" (the documents to write next),
    similar questions grouped (``gap_key``), the most asked first, then the most recent."""
    rows = (
        answers_of(tenant, since=since)
        .filter(kind=AnswerKind.NOT_FOUND, reply_to__isnull=False)
        .order_by("created_at", "id")
        .values_list("reply_to__text", "created_at")
    )
    groups: dict[frozenset[str], KnowledgeGap] = {}
    wordings: dict[frozenset[str], set[str]] = {}
    for text, asked_at in rows.iterator(chunk_size=2000):
        normalised = normalise(text)
        if not normalised:
            continue
        key = gap_key(text) or frozenset({normalised})
        wordings.setdefault(key, set()).add(normalised)
        count = groups[key].count + 1 if key in groups else 1
        groups[key] = KnowledgeGap(text.strip(), count, asked_at, wordings=len(wordings[key]))
    ranked = sorted(groups.values(), key=lambda gap: (-gap.count, -gap.last_asked.timestamp()))
    return ranked[:limit]
