"""Routing and LLM use on a stream of chat messages (``manage.py evaluate --routes``).

Each message of ``messages.jsonl`` is sent, in file order, through the real chat path
(``assistant.answering.pipeline.answer``: routing, retrieval, the checks before the LLM, the answer
cache, the LLM) as the evaluation tenant's admin, each in a new conversation, as an employee would
send it. Reported:
how often the route taken is the route expected (overall and per expected route), the share of
messages that reached the LLM, what answered the others, and the scores of the messages that have
gold answers, as ``--answers`` scores them: SQuAD exact match / F1, or the answer contract's
figures for ``"match": "all"`` rows (a work question refused by the router is a false abstention).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from assistant.models import AnswerKind
from evaluation.answers import answer_run, ask_each
from evaluation.beir import ROUTE_NAMES, BeirMessage, GoldAnswer
from evaluation.contract import Scored, contract_figures
from governance.access import Principal


@dataclass(slots=True)
class MessageRun:
    """One message's stored reply, reduced to what is reported."""

    id: str
    text: str
    expected: str
    route: str
    kind: str
    llm_called: bool
    cached: bool
    answer: str
    short_answer: str | None = None  # with gold answers only
    exact_match: float | None = None
    f1: float | None = None
    correct: bool | None = None  # "match": "all" rows
    timings_ms: dict[str, float] = field(default_factory=dict)
    contract: Scored | None = None  # the reply as the answer contract sees it ("match": "all" rows)

    @property
    def handled_by(self) -> str:
        """What produced the reply: ``llm``, ``cache``, ``route:<name>`` (a fixed reply or a
        search), ``abstained`` (not in the documents, before any LLM call) or ``extractive``."""
        if self.llm_called:
            return "llm"
        if self.cached:
            return "cache"
        if self.route != "question":
            return f"route:{self.route}"
        return "abstained" if self.kind == AnswerKind.NOT_FOUND else str(self.kind)

    def prediction(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("contract")
        return {"_id": row.pop("id"), **row, "handled_by": self.handled_by}


def messages_run(
    messages: Sequence[BeirMessage],
    *,
    principal: Principal,
    gold: Mapping[str, GoldAnswer],
    documents: Mapping[int, list[str]],
    on_message: Callable[[MessageRun], None] = lambda run: None,
    progress: bool = False,
) -> tuple[list[MessageRun], list[str]]:
    """Send every message (see ``ask_each``); the runs, and the ids of messages refused."""
    runs: list[MessageRun] = []
    refused: list[str] = []
    for item, message in ask_each(
        messages, principal=principal, refused=refused, unit="message", progress=progress
    ):
        run = MessageRun(
            id=item.id,
            text=item.text,
            expected=item.expected,
            route=message.route or "question",
            kind=message.kind,
            llm_called=message.llm_called,
            cached=_cached(message),
            answer=message.text,
            timings_ms=dict(message.timings_ms),
        )
        if item.id in gold:
            scored = answer_run(message, query_id=item.id, gold=gold[item.id], documents=documents)
            run.short_answer, run.exact_match, run.f1 = scored.short_answer, scored.exact_match, scored.f1
            run.correct = scored.correct
            run.contract = scored.scored(gold[item.id]) if gold[item.id].match_all else None
        runs.append(run)
        on_message(run)
    return runs, refused


def _cached(message: Any) -> bool:
    """Whether the reply was reused from the answer cache (no such cache: never)."""
    return getattr(message, "cached_from_id", None) is not None


def routes_report(runs: Sequence[MessageRun], refused: Sequence[str]) -> dict[str, Any]:
    """The routing figures added to `manage.py evaluate`'s JSON object."""
    sent = len(runs)
    per_route: dict[str, Any] = {}
    for expected in ROUTE_NAMES:
        mine = [run for run in runs if run.expected == expected]
        if not mine:
            continue
        per_route[expected] = {
            "messages": len(mine),
            "accuracy": _share(sum(run.route == expected for run in mine), len(mine)),
            "routed": dict(Counter(run.route for run in mine).most_common()),
            "llm_share": _share(sum(run.llm_called for run in mine), len(mine)),
        }
    scored = [run for run in runs if run.f1 is not None]
    contract = [run.contract for run in runs if run.contract is not None]
    handled = Counter(run.handled_by for run in runs)
    return {
        "messages": sent + len(refused),
        "messages_refused": len(refused),
        "routing_accuracy": _share(sum(run.route == run.expected for run in runs), sent),
        "routing": per_route,
        "llm_share": _share(handled["llm"], sent),
        "no_llm_share": _share(sent - handled["llm"], sent),
        "handled_by": dict(handled.most_common()),
        "answerable_messages": len(scored),
        "answerable_exact_match": _percent([run.exact_match or 0.0 for run in scored]),
        "answerable_f1": _percent([run.f1 or 0.0 for run in scored]),
        "answerable_llm_share": _share(sum(run.llm_called for run in scored), len(scored)),
        # "match": "all" rows: the answer contract's figures, refusals by the router included
        "contract": contract_figures(contract) if contract else None,
    }


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def _percent(values: Sequence[float]) -> float | None:
    return round(100 * sum(values) / len(values), 2) if values else None
