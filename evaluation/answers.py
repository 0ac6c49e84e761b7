"""Answer quality and latency on a BEIR folder with gold answers (``manage.py evaluate --answers``).

Every question is answered through the real answer path (``pipeline.answer``, as the evaluation
tenant's admin, with the LLM the settings choose), and the stored answer is scored by its row of
``answers.jsonl``:

* ``"match": "all"`` rows by the answer contract (``evaluation.contract``): the FULL answer text
  must hold every phrase; a row without phrases is right only when the reply declines, that is
  abstains (``not_found``) or is refused (routed to ``abuse`` or ``out_of_scope``); citations,
  unsupported sentences and injection probes (``must_not_contain``) are reported beside;
* other rows with SQuAD v1.1's exact match and F1 against the gold answers, as before.

What SQuAD scores is the SHORT answer: the prompt asks for the shortest exact answer first, followed
by its passage marker ("308 [1]. The Panthers ..."), so the scored text is the answer's first
sentence cut at its first citation marker, markers removed. An answer that abstains
(``not_found``) or falls back to the passages (``extractive``) is scored like any other text, so it
scores 0 unless its first sentence happens to hold the answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tqdm import tqdm

from assistant.answering import pipeline
from assistant.answering.compose import split_sentences
from assistant.answering.verify import MARKER, strip_markers
from assistant.models import AnswerKind, Conversation, Message
from config.errors import ApplicationError
from evaluation.beir import BeirQuery, GoldAnswer
from evaluation.contract import Scored, contract_figures, injection_resisted
from evaluation.squad import best_over_gold, exact_match, token_f1
from governance.access import Principal
from retrieval.metrics import percentile

logger = logging.getLogger(__name__)

# The stages that run before the LLM's first token: with it, the time the asker waits for text.
BEFORE_LLM = ("retrieve", "compress", "answerability")
# The routes whose fixed reply refuses the question: for the contract, the reply declines.
REFUSING_ROUTES = frozenset({"abuse", "out_of_scope"})
# Figures that count questions: the same for both systems, or not worth a ratio.
COUNTS = frozenset({"answers", "answers_failed", "answerable", "unanswerable", "llm_calls"})


def short_answer(text: str) -> str:
    """The part of an answer that is scored: its first sentence, up to its first citation marker,
    without markers ("308 [1]. The Panthers gave up 308 points [1]." -> "308")."""
    sentences = split_sentences(text)
    if not sentences:
        return ""
    first = sentences[0]
    before_marker = MARKER.split(first, maxsplit=1)[0]
    return strip_markers(before_marker if before_marker.strip() else first)


@dataclass(slots=True)
class AnswerRun:
    """One question's stored answer, reduced to what is scored and reported."""

    id: str
    answer: str
    short_answer: str
    kind: str
    route: str
    llm_called: bool
    citations: list[str]  # corpus ids of the cited documents, in marker order
    exact_match: float | None = None  # SQuAD rows only
    f1: float | None = None
    correct: bool | None = None  # "match": "all" rows only
    citation_hit: bool | None = None  # "match": "all" rows with qrels only
    injection_resisted: bool | None = None  # probes (must_not_contain) only
    sentences: int = 0  # the answer's sentences checked against their citations
    unsupported_sentences: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def abstained(self) -> bool:
        return self.kind == AnswerKind.NOT_FOUND

    @property
    def refused(self) -> bool:
        return self.route in REFUSING_ROUTES

    def scored(self, gold: GoldAnswer, relevant: frozenset[str] = frozenset()) -> Scored:
        """This answer as the contract sees it."""
        return Scored(
            gold=gold,
            text=self.answer,
            declined=self.abstained or self.refused,
            citations=tuple(self.citations),
            relevant=relevant,
            sentences=self.sentences,
            unsupported=self.unsupported_sentences,
        )

    def prediction(self) -> dict[str, Any]:
        """The line ``--predictions`` writes for this question: the answer, how it was made, and
        its own scores, tokens and timings (so failures can be studied one by one)."""
        row = asdict(self)
        return {"_id": row.pop("id"), **row, "abstained": self.abstained, "refused": self.refused}


def answer_run(
    message: Message,
    *,
    query_id: str,
    gold: GoldAnswer,
    documents: Mapping[int, list[str]],
    relevant: frozenset[str] = frozenset(),
) -> AnswerRun:
    """Score a stored answer against its ``gold`` row (``relevant``: its qrels documents)."""
    cited: list[str] = []
    for citation in message.citations.order_by("marker"):
        cited.extend(i for i in documents.get(citation.document_id or 0, ()) if i not in cited)
    run = AnswerRun(
        id=query_id,
        answer=message.text,
        short_answer=short_answer(message.text),
        kind=message.kind,
        route=message.route,
        llm_called=message.llm_called,
        citations=cited,
        sentences=len(message.sentences or []),
        unsupported_sentences=message.unsupported_sentences,
        prompt_tokens=message.prompt_tokens,
        completion_tokens=message.completion_tokens,
        timings_ms=dict(message.timings_ms),
    )
    return score_run(run, gold=gold, relevant=relevant)


def score_run(run: AnswerRun, *, gold: GoldAnswer, relevant: frozenset[str] = frozenset()) -> AnswerRun:
    """``run`` with its scores against its ``gold`` row: the contract's or SQuAD's."""
    run.injection_resisted = injection_resisted(run.answer, gold)
    if gold.match_all:
        scored = run.scored(gold, relevant)
        run.correct, run.citation_hit = scored.correct, scored.citation_hit
    else:
        run.exact_match = best_over_gold(exact_match, run.short_answer, gold.answers)
        run.f1 = best_over_gold(token_f1, run.short_answer, gold.answers)
    return run


class Asked(Protocol):
    """What the evaluation sends: an id to report it by and the text an employee would type."""

    @property
    def id(self) -> str: ...

    @property
    def text(self) -> str: ...


AskedT = TypeVar("AskedT", bound=Asked)


def ask_each(
    items: Sequence[AskedT], *, principal: Principal, refused: list[str], unit: str, progress: bool = False
) -> Iterator[tuple[AskedT, Message]]:
    """Send every item through the real chat path (``pipeline.answer``) as ``principal``; yield each
    with its stored answer, and add the ids of the items refused (as they would be to anyone: an
    empty question, say) to ``refused``.

    The tenant's earlier conversations are deleted first, so no answer of an earlier run is reused
    from the answer cache: every run starts as a new installation does. The local model is loaded
    (and the fixed system prompt prefilled) before the first item, as a running server has it, so
    loading is not counted as an answer's latency."""
    Conversation.objects.filter(tenant_id=principal.tenant_id).delete()
    if items:
        pipeline.llm_warm_up(principal=principal)
    for item in tqdm(items, unit=unit, desc=unit + "s", disable=not progress):
        try:
            # The operator's own run, as fast as the machine answers: not a member's ask rate.
            message = pipeline.answer(principal=principal, question=item.text, rate_limit=False)
        except ApplicationError as exc:
            logger.warning("evaluation %s refused id=%s code=%s", unit, item.id, exc.code)
            refused.append(item.id)
            continue
        yield item, message


def answers_run(
    queries: Sequence[BeirQuery],
    *,
    principal: Principal,
    gold: Mapping[str, GoldAnswer],
    documents: Mapping[int, list[str]],
    relevant: Mapping[str, frozenset[str]] | None = None,
    on_answer: Callable[[AnswerRun], None] = lambda run: None,
    progress: bool = False,
) -> tuple[list[AnswerRun], list[str]]:
    """Answer every query that has gold answers; the runs, and the ids of questions refused."""
    asked = [query for query in queries if query.id in gold]
    runs: list[AnswerRun] = []
    failed: list[str] = []
    for query, message in ask_each(
        asked, principal=principal, refused=failed, unit="question", progress=progress
    ):
        judged = (relevant or {}).get(query.id, frozenset())
        runs.append(
            answer_run(message, query_id=query.id, gold=gold[query.id], documents=documents, relevant=judged)
        )
        on_answer(runs[-1])
    return runs, failed


def relevant_documents(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, frozenset[str]]:
    """Each query's documents judged relevant (a score above 0), for the citation hit."""
    return {
        query: frozenset(doc for doc, score in judged.items() if score > 0) for query, judged in qrels.items()
    }


def _ms(values: Iterable[float], point: float) -> float | None:
    value = percentile(list(values), point)
    return None if value is None else round(value, 1)


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def answers_report(
    runs: Sequence[AnswerRun],
    failed: Sequence[str],
    *,
    llm: str,
    gold: Mapping[str, GoldAnswer],
    relevant: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Any]:
    """The answer metrics added to `manage.py evaluate`'s JSON object.

    ``exact_match`` and ``f1`` are percentages over the SQuAD rows asked (a refused question
    scores 0; None without SQuAD rows); the contract's figures (``evaluation.contract``) cover the
    ``match: all`` rows; ``ttft_ms`` runs from the question to the LLM's first token (retrieval and
    evidence compression included), ``llm_ttft_ms`` is the LLM's part alone; both over answers
    that called it."""
    asked = len(runs) + len(failed)
    squad = [run for run in runs if run.f1 is not None]
    squad_asked = len(squad) + sum(1 for i in failed if not gold[i].match_all)
    scored = [run.scored(gold[run.id], (relevant or {}).get(run.id, frozenset())) for run in runs]

    def share(count: int) -> float | None:
        return round(count / asked, 4) if asked else None

    def percent(values: Iterable[float]) -> float | None:
        return round(100 * sum(values) / squad_asked, 2) if squad_asked else None

    return {
        "answers": asked,
        "answers_failed": len(failed),
        **contract_figures(scored, missing=[gold[i] for i in failed]),
        "exact_match": percent(run.exact_match or 0.0 for run in squad),
        "f1": percent(run.f1 or 0.0 for run in squad),
        "abstained": share(sum(r.abstained for r in runs)),
        "refused": share(sum(r.refused for r in runs)),
        "extractive": share(sum(r.kind == AnswerKind.EXTRACTIVE for r in runs)),
        **timing_figures(runs),
        "llm": llm,
    }


def timing_figures(runs: Sequence[AnswerRun]) -> dict[str, Any]:
    """LLM calls, tokens and latencies of ``runs`` (the same names for every baseline)."""
    called = [run for run in runs if run.llm_called]
    first_token = [run.timings_ms for run in called if "llm_first_token" in run.timings_ms]
    ttft = [sum(t.get(stage, 0.0) for stage in BEFORE_LLM) + t["llm_first_token"] for t in first_token]
    totals = [r.timings_ms["total"] for r in runs if "total" in r.timings_ms]
    retrieve = [r.timings_ms["retrieve"] for r in runs if "retrieve" in r.timings_ms]
    return {
        "llm_calls": len(called),
        "prompt_tokens_mean": _mean([r.prompt_tokens for r in called]),
        "completion_tokens_mean": _mean([r.completion_tokens for r in called]),
        "retrieve_ms_p50": _ms(retrieve, 50),
        "retrieve_ms_p95": _ms(retrieve, 95),
        "ttft_ms_p50": _ms(ttft, 50),
        "ttft_ms_p95": _ms(ttft, 95),
        "llm_ttft_ms_p50": _ms((t["llm_first_token"] for t in first_token), 50),
        "answer_ms_p50": _ms(totals, 50),
        "answer_ms_p95": _ms(totals, 95),
    }


@contextmanager
def predictions_sink(path: Path | None) -> Iterator[Callable[[dict[str, Any]], None]]:
    """A function that writes a prediction's line to ``path`` at once, flushed, so a run stopped
    half-way keeps what it answered (a function that does nothing without a path)."""
    if path is None:
        yield lambda row: None
        return
    with path.open("w", encoding="utf-8") as handle:

        def write(row: dict[str, Any]) -> None:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()

        yield write
