"""Compose the one LLM prompt: only the best evidence, each passage numbered, documents as data.

Evidence is compressed with the small models before the LLM sees it: the sentences of the top
passages are embedded and only those closest to the question are kept (in reading order, within a
token budget), so prompts stay short and the time to the first token stays low on a CPU.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from assistant.injection import gives_orders_to_the_assistant
from assistant.search import DocumentHit, PassageHit
from retrieval.embedding import Embedder

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
NOT_FOUND = "NOT_IN_DOCUMENTS"

# A sentence ends at . ! ? (optionally closed by up to two quotes or brackets, which stay with it)
# followed by white space; a newline also ends one (lists, headings, table rows). Lookbehinds have a
# fixed width, hence one per number of closing characters.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"')\]])|(?<=[.!?][\"')\]]{2}))\s+|\n+")


@cache
def prompt_template(name: str) -> str:
    """The text of ``assistant/prompts/<name>.md``."""
    return (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip()


@dataclass(frozen=True, slots=True)
class Evidence:
    """A passage as the LLM sees it: its marker, where it comes from, and the sentences kept."""

    marker: int
    document_id: int
    title: str
    passage: PassageHit
    sentences: tuple[str, ...]
    # the kept sentences' vectors, row for row, as selection embedded them (the check reuses them)
    vectors: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return " ".join(self.sentences)

    @property
    def location(self) -> str:
        """Page or heading path, for the citation shown to the user."""
        if self.passage.page is not None:
            return f"p. {self.passage.page}"
        return " > ".join(self.passage.heading_path)


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences (stripped, empty ones dropped)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


@dataclass(frozen=True, slots=True)
class EvidenceBudget:
    """How much evidence the prompt gets. Every word piece here is prefilled on each question (about
    55 tokens/s for the 1.5B model on 2 cores), so the budget is set by the time-to-first-token goal
    (under 3 s): ~120 word pieces of evidence beside the question and the cached system prompt."""

    passages: int = 3  # the best passage of each of the best documents
    sentences: int = 5
    tokens: int = 120


def select_evidence(
    question_vector: npt.NDArray[np.float32],
    documents: Sequence[DocumentHit],
    *,
    embedder: Embedder,
    budget: EvidenceBudget | None = None,
) -> list[Evidence]:
    """The sentences of the top passages that are closest to the question, grouped by passage.

    Passages are numbered 1..n in rank order; within a passage the kept sentences keep their
    reading order. At least the best sentence is kept, whatever the budget. Sentences that give
    orders to the assistant (prompt injection) are withheld."""
    budget = budget or EvidenceBudget()
    candidates = [(doc, doc.passages[0]) for doc in documents if doc.passages][: budget.passages]
    sentences = [
        (i, j, s)
        for i, (_, p) in enumerate(candidates)
        for j, s in enumerate(split_sentences(p.text))
        if not gives_orders_to_the_assistant(s)  # injected orders never reach the LLM
    ]
    if not sentences:
        return []
    vectors = embedder.embed_documents([s for _, _, s in sentences])
    scores = vectors @ np.asarray(question_vector, dtype=np.float32).reshape(-1)
    kept = _within_budget(np.argsort(-scores, kind="stable"), sentences, embedder.count_tokens, budget)
    evidence: list[Evidence] = []
    for i, (doc, passage) in enumerate(candidates):
        rows = sorted(k for k in kept if sentences[k][0] == i)  # reading order within the passage
        if rows:
            chosen = tuple(sentences[k][2] for k in rows)
            item = Evidence(len(evidence) + 1, doc.document_id, doc.title, passage, chosen, vectors[rows])
            evidence.append(item)
    return evidence


def _within_budget(
    order: npt.NDArray[np.int64],
    sentences: list[tuple[int, int, str]],
    count_tokens: Callable[[str], int],
    budget: EvidenceBudget,
) -> list[int]:
    kept: list[int] = []
    used = 0
    for k in order.tolist():
        cost = count_tokens(sentences[k][2])
        if kept and (used + cost > budget.tokens or len(kept) >= budget.sentences):
            continue
        kept.append(k)
        used += cost
    return kept


def format_passages(evidence: Sequence[Evidence]) -> str:
    """The passages block of the prompt: ``[n] (title, location) text``, one per line."""
    lines = []
    for item in evidence:
        source = ", ".join(part for part in (item.title, item.location) if part)
        lines.append(f"[{item.marker}] ({_one_line(source)}) {_one_line(item.text)}")
    return "\n".join(lines)


def build_messages(question: str, evidence: Sequence[Evidence]) -> list[BaseMessage]:
    """System rules (fixed, so its KV cache is reused) and the user turn with passages and question."""
    user = prompt_template("user").format(passages=format_passages(evidence), question=_one_line(question))
    return [SystemMessage(content=prompt_template("system")), HumanMessage(content=user)]


def _one_line(text: str) -> str:
    return " ".join(text.split())
