"""Compose the one LLM prompt: only the best evidence, each passage numbered, documents as data.

Evidence is chosen with the small models before the LLM sees it (``retrieval.evidence``): the best
passages are cut into units a reader would not cut (sentences, code blocks, list items), embedded,
and the units that answer the question are kept within a token budget (``EVIDENCE_TOKENS``): the
closest first, then those that cover the parts of the question not covered yet and the sentences
around them, each passage's units in reading order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from assistant.answering.injection import gives_orders_to_the_assistant
from assistant.answering.search import DocumentHit, PassageHit
from retrieval.answerability import content_terms
from retrieval.bm25_tokenizer import Bm25Tokenizer
from retrieval.embedding import Embedder
from retrieval.evidence import select_units, term_weights, units_of

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
NOT_FOUND = "NOT_IN_DOCUMENTS"

_FENCE = re.compile(r"^\s*(```|~~~)")  # a unit that is a fenced code block
# A sentence ends at . ! ? (optionally closed by up to two quotes or brackets, which stay with it)
# followed by white space; a newline also ends one (lists, headings, table rows). Lookbehinds have a
# fixed width, hence one per number of closing characters.
# The number of an ordered-list item ("1. Open ...", "  12. Run ...") is not a sentence of its own.
# Its one group keeps the separators in ``SENTENCE_END.split`` (sentence, separator, sentence, ...).
SENTENCE_END = re.compile(
    r"((?:(?<=[.!?])|(?<=[.!?][\"')\]])|(?<=[.!?][\"')\]]{2}))"
    r"(?<!^\d\.)(?<!^\d\d\.)(?<!^ \d\.)(?<!^  \d\.)(?<!^   \d\.)(?<!^ \d\d\.)(?<!^  \d\d\.)\s+|\n+)",
    re.MULTILINE,
)


@cache
def prompt_template(name: str) -> str:
    """The text of ``assistant/answering/prompts/<name>.md``."""
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
    return [s.strip() for s in SENTENCE_END.split(text)[::2] if s and s.strip()]


def _evidence_tokens() -> int:
    return int(settings.TESSERA["EVIDENCE_TOKENS"])


@dataclass(frozen=True, slots=True)
class EvidenceBudget:
    """How much evidence the prompt gets. Every word piece here is prefilled on each question (about
    55 tokens/s for the 1.5B model on 2 cores): the budget trades the time to the first token for
    answers that hold what a how-to question needs (``EVIDENCE_TOKENS``, measured in
    docs/benchmarks.md)."""

    passages: int = 5  # documents, best first
    per_document: int = 4  # passages of each read, best first (``_best_passages``) ...
    searched: int = 8  # ... among this many the search gives (in its fused order)
    sentences: int = 60  # units at most
    tokens: int = field(default_factory=_evidence_tokens)  # word pieces


_TERMS = Bm25Tokenizer()


def select_evidence(
    question_vector: npt.NDArray[np.float32],
    documents: Sequence[DocumentHit],
    *,
    embedder: Embedder,
    budget: EvidenceBudget | None = None,
    question: str = "",
) -> list[Evidence]:
    """The units of the top passages that answer the question, grouped by passage.

    Passages are numbered 1..n by document rank, a document's passages in reading order; within a
    passage the kept units keep their reading order. At least the unit closest to the question is
    kept, whatever the budget; ``question`` (its terms) lets the choice cover every part of it.
    Units that give orders to the assistant (prompt injection) are withheld."""
    budget = budget or EvidenceBudget()
    candidates = [
        (doc, passage)
        for doc in documents[: budget.passages]
        for passage in sorted(_best_passages(doc.passages, budget.per_document), key=lambda p: p.char_start)
    ]
    units = units_of(
        [p.text for _, p in candidates],
        count_tokens=embedder.count_tokens,
        tokenize=_TERMS,
        keep=lambda text: not gives_orders_to_the_assistant(text),  # injected orders never reach the LLM
    )
    if not units:
        return []
    vectors = embedder.embed_documents([u.text for u in units])
    kept = select_units(
        units,
        vectors,
        question_vector,
        weights=term_weights(content_terms(question, _TERMS), units),
        tokens=budget.tokens,
        max_units=budget.sentences,
        prior=_passage_prior([p for _, p in candidates]),
        # each passage's "[n] (title, location)" is prompt too: the budget counts it
        opening=[
            embedder.count_tokens(format_passages([Evidence(i + 1, doc.document_id, doc.title, passage, ())]))
            for i, (doc, passage) in enumerate(candidates)
        ],
    )
    evidence: list[Evidence] = []
    for i, (doc, passage) in enumerate(candidates):
        rows = sorted((k for k in kept if units[k].passage == i), key=lambda k: units[k].position)
        if rows:
            chosen = tuple(units[k].text for k in rows)
            item = Evidence(len(evidence) + 1, doc.document_id, doc.title, passage, chosen, vectors[rows])
            evidence.append(item)
    return evidence


def _best_passages(passages: Sequence[PassageHit], count: int) -> list[PassageHit]:
    """A document's ``count`` passages most likely to hold the answer: those the reranker scored
    (late interaction), by its score, then the others in the search's fused order. Within a long
    document, MaxSim puts the passage holding the answer first more often than the fused order does
    (both development sets, docs/benchmarks.md)."""
    ranked = sorted(
        range(len(passages)),
        key=lambda i: (passages[i].rerank_score is None, -(passages[i].rerank_score or 0.0), i),
    )
    return [passages[i] for i in ranked[:count]]


def _passage_prior(passages: Sequence[PassageHit]) -> list[float]:
    """Each passage's search score over the best one's: a sentence of the passage the search
    ranked first is more likely to answer than an equally close one of the tenth."""
    top = max((p.score for p in passages), default=0.0)
    return [max(p.score, 0.0) / top if top > 0 else 0.0 for p in passages]


def format_passages(evidence: Sequence[Evidence]) -> str:
    """The passages block of the prompt: ``[n] (title, location)``, then the passage's kept units,
    one a line (a sentence, a list item, a table row), a fenced code block with its lines as written,
    so a command is copied as it reads; a blank line between passages."""
    blocks = []
    for item in evidence:
        source = ", ".join(part for part in (item.title, item.location) if part)
        units = [unit if _FENCE.match(unit) else _one_line(unit) for unit in item.sentences]
        blocks.append("\n".join([f"[{item.marker}] ({_one_line(source)})", *units]))
    return "\n\n".join(blocks)


def build_messages(question: str, evidence: Sequence[Evidence]) -> list[BaseMessage]:
    """System rules (fixed, so its KV cache is reused) and the user turn with passages and question."""
    user = prompt_template("user").format(passages=format_passages(evidence), question=_one_line(question))
    return [SystemMessage(content=prompt_template("system")), HumanMessage(content=user)]


def _one_line(text: str) -> str:
    return " ".join(text.split())
