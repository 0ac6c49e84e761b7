"""Citations in an LLM answer: resolve the ``[n]`` markers, drop the ones that point at no passage,
and check every sentence against the passages it cites.

A sentence is supported when its content words are (nearly) all in a cited passage (short answers
copied from the text: "308 [1]"), or when its embedding is close to one of the cited passage's
sentences (paraphrases). A sentence that cites nothing is checked against no passage: unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from assistant.answering.compose import SENTENCE_END, Evidence
from retrieval.embedding import Embedder

# Up to two digits: a prompt holds a handful of passages, and "[2020]" or "[100]" is text, not a marker.
# Only spaces before a marker are taken with it, never a line break.
MARKER = re.compile(r"[ \t]*\[(\d{1,2}(?:[ \t]*[,;][ \t]*\d{1,2})*)\]")
_MARKERS_AFTER_END = re.compile(r"([.!?]+[\"')]*)((?:[ \t]*\[\d{1,2}\])+)")
_WORD = re.compile(r"\w+", re.UNICODE)
_FENCE = re.compile(r"^(```|~~~)")  # a line that opens or closes a fenced code block
# An ordered-list item's number ("1. ", "12) ") is the answer's layout, not a claim to check.
_LIST_NUMBER = re.compile(r"^\s*\d{1,3}[.)]\s+")
_STOPWORDS = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is", "it", "its"}
    | {"of", "on", "or", "that", "the", "their", "this", "to", "was", "were", "which", "with"}
)
SUPPORT_COSINE = 0.6  # a paraphrase this close to a cited sentence counts as supported
SUPPORT_COVERAGE = 0.8  # or this share of its content words appears in a cited passage


@dataclass(frozen=True, slots=True)
class CheckedSentence:
    text: str  # without its markers
    markers: tuple[int, ...]
    supported: bool
    score: float  # the evidence for ``supported``: the larger of word coverage and cosine


@dataclass(slots=True)
class CheckedAnswer:
    text: str  # the answer with markers that point at no passage removed
    sentences: list[CheckedSentence] = field(default_factory=list)
    markers: list[int] = field(default_factory=list)  # valid markers, in order of first use
    dropped_markers: int = 0
    repaired: int = 0  # sentences whose citation was moved to the passage that supports them

    @property
    def unsupported(self) -> int:
        return sum(not s.supported for s in self.sentences)


def resolve_markers(answer: str, valid: set[int]) -> CheckedAnswer:
    """``answer`` with every marker number outside ``valid`` removed (and empty markers with it)."""
    checked = CheckedAnswer(text="")

    def keep(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.findall(r"\d+", match.group(1))]
        good = [n for n in numbers if n in valid]
        checked.dropped_markers += len(numbers) - len(good)
        for n in good:
            if n not in checked.markers:
                checked.markers.append(n)
        return " " + "".join(f"[{n}]" for n in good) if good else ""

    checked.text = MARKER.sub(keep, answer).strip()
    return checked


def markers_in(sentence: str) -> tuple[int, ...]:
    return tuple(int(n) for group in MARKER.findall(sentence) for n in re.findall(r"\d+", group))


def strip_markers(text: str) -> str:
    return " ".join(MARKER.sub("", text).split())


def check_answer(answer: str, evidence: Sequence[Evidence], *, embedder: Embedder) -> CheckedAnswer:
    """Resolve the markers of ``answer`` against ``evidence`` and check each sentence's support.

    A line of a fenced code block is checked as a sentence (a command copied from a passage is
    supported) but never given a citation: it is a command to copy, not a sentence; the fences
    themselves are not sentences."""
    by_marker = {item.marker: item for item in evidence}
    checked = resolve_markers(answer, set(by_marker))
    # "Sixteen weeks. [1]": markers right after a sentence's end cite that sentence, not the next
    # one; for the check they are moved before its end (the answer's text is kept as written).
    source = _MARKERS_AFTER_END.sub(r"\2\1", checked.text)
    pieces = _pieces(source)
    if not pieces:
        return checked
    sentence_vectors = embedder.embed_documents([piece.text for piece in pieces])
    evidence_vectors = _evidence_vectors(evidence, embedder)
    for piece, vector in zip(pieces, sentence_vectors, strict=True):
        text, markers = piece.text, piece.markers
        scores = {
            m: _support(text, vector, by_marker[m], evidence_vectors)
            for m in by_marker
            if m in evidence_vectors
        }
        if piece.code:
            best = max(scores.values(), key=max, default=(0.0, 0.0))
            checked.sentences.append(CheckedSentence(text, (), _supported(best), max(best)))
            continue
        cited = [m for m in markers if m in scores]
        best_cited = max((scores[m] for m in cited), default=(0.0, 0.0))
        if _supported(best_cited):
            checked.sentences.append(CheckedSentence(text, markers, True, max(best_cited)))
            continue
        # Small models often cite the wrong passage ("[2]" for a fact read from [1]): a sentence that
        # another passage supports is kept, with its citation repaired to that passage.
        repaired = max(scores, key=lambda m: max(scores[m]), default=None)
        if repaired is not None and _supported(scores[repaired]):
            checked.sentences.append(CheckedSentence(text, (repaired,), True, max(scores[repaired])))
            checked.repaired += 1
        else:
            checked.sentences.append(CheckedSentence(text, markers, False, max(best_cited)))
    if checked.repaired:
        _rewrite(checked, source, pieces)
    return checked


@dataclass(frozen=True, slots=True)
class _Piece:
    """A sentence of the answer, or a line of one of its code blocks."""

    at: int  # its index in ``SENTENCE_END.split(source)``
    text: str  # without markers
    markers: tuple[int, ...]
    code: bool  # a line inside a fenced code block


def _pieces(source: str) -> list[_Piece]:
    pieces, fenced = [], False
    for at, raw in enumerate(SENTENCE_END.split(source)[::2]):
        text = strip_markers(raw)
        if _FENCE.match(text):
            fenced = not fenced
        elif text:
            checked = text if fenced else _LIST_NUMBER.sub("", text)
            pieces.append(_Piece(2 * at, checked, markers_in(raw), fenced))
    return pieces


def _support(
    text: str, vector: np.ndarray, item: Evidence, evidence_vectors: dict[int, np.ndarray]
) -> tuple[float, float]:
    """(word coverage, best cosine) of a sentence against one passage as the LLM saw it."""
    coverage = word_coverage(text, f"{item.title} {item.text}")
    return coverage, float(np.max(evidence_vectors[item.marker] @ vector))


def _supported(score: tuple[float, float]) -> bool:
    coverage, cosine = score
    return coverage >= SUPPORT_COVERAGE or cosine >= SUPPORT_COSINE


def _rewrite(checked: CheckedAnswer, source: str, pieces: Sequence[_Piece]) -> None:
    """The answer's text with each repaired sentence's markers replaced and nothing else changed:
    its line breaks, lists and code blocks stay as written."""
    parts = SENTENCE_END.split(source)  # sentence, separator, sentence, ...
    for piece, sentence in zip(pieces, checked.sentences, strict=True):
        if not piece.code and sentence.markers != piece.markers:
            cited = "".join(f"[{m}]" for m in sentence.markers)
            parts[piece.at] = f"{MARKER.sub('', parts[piece.at]).rstrip()} {cited}"
    checked.text = "".join(parts)
    checked.markers = list(dict.fromkeys(m for s in checked.sentences for m in s.markers))


def _evidence_vectors(evidence: Sequence[Evidence], embedder: Embedder) -> dict[int, np.ndarray]:
    """Each passage's kept sentences' vectors, by marker: those selection computed, else embedded."""
    known = {item.marker: item.vectors for item in evidence if item.vectors is not None}
    flat = [(item.marker, s) for item in evidence if item.marker not in known for s in item.sentences]
    vectors = embedder.embed_documents([s for _, s in flat]) if flat else np.zeros((0, embedder.dimension))
    out: dict[int, list[np.ndarray]] = {}
    for (marker, _), vector in zip(flat, vectors, strict=True):
        out.setdefault(marker, []).append(vector)
    return known | {marker: np.vstack(rows) for marker, rows in out.items()}


_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
_TEENS = (
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBER_WORDS = (
    {w: str(i) for i, w in enumerate(_UNITS)}
    | {w: str(i) for i, w in enumerate(_TEENS, start=11)}
    | {w: str(i * 10) for i, w in enumerate(_TENS, start=2)}
)


def content_words(text: str) -> list[str]:
    """Lower-cased words without stop words, number words as digits ("twenty" and "20" match)."""
    words = _WORD.findall(text.lower())
    return [_NUMBER_WORDS.get(w, w) for w in words if w not in _STOPWORDS]


def word_coverage(sentence: str, passage: str) -> float:
    """The share of ``sentence``'s content words that occur in ``passage`` (1.0 for no content words)."""
    words = content_words(sentence)
    if not words:
        return 1.0
    vocabulary = set(content_words(passage))
    return sum(w in vocabulary for w in words) / len(words)


def cited_spans(passage: str, sentences: Sequence[str]) -> list[list[int]]:
    """Where ``sentences`` (the evidence kept from a passage) stand in the passage's text, as
    ``[start, end)`` offsets in reading order; a sentence not found verbatim is left out."""
    spans: list[list[int]] = []
    start = 0
    for sentence in sentences:
        at = passage.find(sentence, start)
        if at < 0:
            at = passage.find(sentence)
        if at < 0 or not sentence:
            continue
        spans.append([at, at + len(sentence)])
        start = at + len(sentence)
    return sorted(spans)
