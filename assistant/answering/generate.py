"""One grounded answer, from a question and its evidence: at most one LLM call, streamed, with a
labelled extractive answer whenever the LLM cannot be used (down, timed out, circuit open, budget).

No Django here beyond what the caller passes in: ``pipeline`` and ``persist`` use the database.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.answering.compose import NOT_FOUND, SENTENCE_END, Evidence, build_messages
from assistant.answering.llm.client import CircuitBreaker
from assistant.answering.trace import ms_since
from assistant.answering.verify import CheckedAnswer, check_answer
from retrieval.embedding import Embedder

logger = logging.getLogger(__name__)

NOT_FOUND_TEXT = "I could not find this in your documents. The closest passages are listed below."
EXTRACTIVE_INTRO = (
    "No AI-written answer this time ({reason}). The most relevant passages from your documents:"
)
# After an answer the LLM had to stop at its length limit (its unfinished last sentence dropped).
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_TRAILING_MARKERS = re.compile(r"[.!?:]\s*(?:\[\d+\]\s*)+$")
CUT_SHORT_NOTE = "(This answer reached its length limit and may be incomplete: see the passages cited.)"


@dataclass(slots=True)
class Draft:
    """What the answering produced, before it is stored."""

    kind: str  # AnswerKind value
    text: str
    evidence: list[Evidence]
    checked: CheckedAnswer | None = None
    llm_called: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallback_reason: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The LLM finished what it wrote (finish reason "stop"); only a complete answer is cached.
    complete: bool = True

    @property
    def cited_markers(self) -> list[int]:
        """The markers to store as citations: those the answer used, or every passage shown."""
        if self.checked is not None and self.checked.markers:
            return self.checked.markers
        return [item.marker for item in self.evidence]


def extractive_text(evidence: Sequence[Evidence], reason: str) -> str:
    """The passages closest to the question, each with its marker, under a label that says why."""
    lines = [EXTRACTIVE_INTRO.format(reason=reason)]
    lines += [f"- {item.text} [{item.marker}]" for item in evidence]
    return "\n".join(lines)


# What Tessera says, without an LLM call, to a message that is not a question for the documents.
ROUTE_REPLIES = {
    "smalltalk": (
        "Hello! I answer questions from your organisation's documents and show the passages I used. "
        "Ask me about a policy, a procedure or anything else your documents cover."
    ),
    "out_of_scope": (
        "That is outside what I can help with: I answer questions from your organisation's documents "
        "(policies, procedures, products and the like). Try a question about one of those."
    ),
    "abuse": "I can't help with that. I answer questions from your organisation's documents.",
}
SEARCH_INTRO = "Documents that match (no AI-written answer needed for a search):"


def route_draft(route: str, timings: dict[str, float]) -> Draft:
    """The fixed reply to a message routed away from the documents (small talk, out of scope, abuse)."""
    return reply_draft(ROUTE_REPLIES[route], timings)


def reply_draft(text: str, timings: dict[str, float]) -> Draft:
    """A fixed reply, without an LLM call (a built-in route's, or a tenant intent's own)."""
    return Draft(kind="no_llm", text=text, evidence=[], timings_ms=timings)


def search_draft(evidence: list[Evidence], timings: dict[str, float]) -> Draft:
    """The best passage of each document found, ranked, each with its marker: a search's reply."""
    if not evidence:
        return not_found_draft([], **timings)
    lines = [SEARCH_INTRO]
    for item in evidence:
        where = f" ({item.location})" if item.location else ""
        lines.append(f"- {item.title}{where}: {item.text} [{item.marker}]")
    return Draft(kind="no_llm", text="\n".join(lines), evidence=evidence, timings_ms=timings)


def not_found_draft(evidence: list[Evidence], **timings: float) -> Draft:
    return Draft(kind="not_found", text=NOT_FOUND_TEXT, evidence=evidence, timings_ms=dict(timings))


def extractive_draft(evidence: list[Evidence], reason: str, timings: dict[str, float]) -> Draft:
    return Draft(
        kind="extractive", text=extractive_text(evidence, reason), evidence=evidence,
        fallback_reason=reason, timings_ms=timings,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of the answer as the LLM writes it (for streaming)."""

    text: str


@dataclass(frozen=True, slots=True)
class EvidenceShown:
    """The passages the LLM is about to read, announced before its first token: on a CPU the model
    reads them for seconds, and a person can start reading them at once."""

    evidence: list[Evidence]


def generate(
    question: str,
    evidence: list[Evidence],
    *,
    model: BaseChatModel,
    breaker: CircuitBreaker,
    embedder: Embedder,
    timings: dict[str, float],
    timeout_s: float = 60.0,
) -> Iterator[Token | Draft]:
    """Stream the LLM's answer as :class:`Token` s, then yield the final :class:`Draft` (always).

    The sentinel reply NOT_IN_DOCUMENTS is held back, never streamed. Any error of the model
    (connection, timeout, server error) ends in an extractive draft and counts against the breaker;
    so does an answer still unfinished after ``timeout_s`` (the local model has no client timeout),
    and a stream that ends without a finish reason (a server that died mid-answer: what came may be
    any part of the answer). An answer stopped at the length limit keeps its complete sentences,
    says so, and is not cached (``Draft.complete``).
    """
    if not breaker.allow():
        yield extractive_draft(evidence, "the language model is unavailable", timings)
        return
    parts: list[str] = []
    usage: dict[str, Any] = {}
    started = time.perf_counter()
    streamed = False
    finish: str | None = None
    try:
        for chunk in model.stream(build_messages(question, evidence)):
            if time.perf_counter() - started > timeout_s:
                raise TimeoutError(f"no complete answer after {timeout_s:g} s")
            usage = dict(getattr(chunk, "usage_metadata", None) or {}) or usage
            finish = (getattr(chunk, "response_metadata", None) or {}).get("finish_reason") or finish
            piece = str(chunk.content)
            if not piece:
                continue
            if not parts:
                timings["llm_first_token"] = ms_since(started)
            parts.append(piece)
            text = "".join(parts)
            if streamed:
                yield Token(piece)
            elif not NOT_FOUND.startswith(text.lstrip()):  # not (yet) the sentinel: show it
                streamed = True
                yield Token(text)
    except Exception as exc:  # any failure of the provider is a fallback, never a 500
        breaker.failure()
        logger.warning("LLM call failed (%s): %s", type(exc).__name__, exc)
        timings["llm_total"] = ms_since(started)
        draft = extractive_draft(evidence, "the language model did not answer", timings)
        draft.llm_called = True
        yield draft
        return
    timings["llm_total"] = ms_since(started)
    if finish is None:
        breaker.failure()
        logger.warning("LLM stream ended without a finish reason after %d pieces", len(parts))
        draft = extractive_draft(evidence, "the language model's answer was cut off", timings)
        draft.llm_called, draft.complete = True, False
        yield draft
        return
    breaker.success()
    yield _finish("".join(parts), evidence, usage, embedder, timings, cut_short=finish != "stop")


def _finish(
    raw: str,
    evidence: list[Evidence],
    usage: dict[str, Any],
    embedder: Embedder,
    timings: dict[str, float],
    *,
    cut_short: bool = False,
) -> Draft:
    draft = Draft(
        kind="not_found", text=NOT_FOUND_TEXT, evidence=evidence, timings_ms=timings, llm_called=True
    )
    draft.prompt_tokens = int(usage.get("input_tokens") or 0)
    draft.completion_tokens = int(usage.get("output_tokens") or 0)
    if cut_short:
        raw, draft.complete = complete_sentences(raw), False
        if not raw:  # not one sentence finished: nothing of it to show
            cut = extractive_draft(evidence, "the language model's answer was cut off", timings)
            cut.llm_called, cut.complete = True, False
            cut.prompt_tokens, cut.completion_tokens = draft.prompt_tokens, draft.completion_tokens
            return cut
    if not raw.strip() or raw.strip().startswith(NOT_FOUND):
        return draft
    started = time.perf_counter()
    draft.checked = check_answer(raw.replace(NOT_FOUND, "").strip(), evidence, embedder=embedder)
    timings["verify"] = ms_since(started)
    if draft.checked.sentences and not any(s.supported for s in draft.checked.sentences):
        # Nothing the LLM wrote is backed by a passage it cites: show the passages, not the claim.
        unverified = extractive_draft(evidence, "the AI-written answer could not be verified", timings)
        unverified.llm_called = True
        unverified.prompt_tokens, unverified.completion_tokens = draft.prompt_tokens, draft.completion_tokens
        return unverified
    draft.kind, draft.text = "answered", draft.checked.text
    if cut_short:
        draft.text = f"{draft.text}\n\n{CUT_SHORT_NOTE}"
    return draft


def complete_sentences(text: str) -> str:
    """``text`` up to the end of its last complete sentence (or line): what an answer stopped in
    mid-sentence can show without a fragment; empty when no sentence was finished."""
    stripped = text.rstrip()
    if stripped.endswith((".", "!", "?", ":")) or _TRAILING_MARKERS.search(stripped):
        return stripped
    ends = [m.start() for m in SENTENCE_END.finditer(stripped)]
    if not ends:
        return ""
    markers = _LEADING_MARKERS.match(stripped, ends[-1])  # "... paid out. [2] The unused": keep [2]
    return stripped[: markers.end() if markers else ends[-1]].rstrip()
