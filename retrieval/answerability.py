"""The answerability check: can the evidence retrieved for a question answer it? Decided before any
LLM call, by a small model (a logistic regression) on signals that search already computes.

Features (each a number that is higher when the evidence looks like it holds the answer):

- ``dense_best``: the best chunk's cosine with the question (the embedder's pooled vectors);
- ``late_mean`` / ``late_low``: the top document's late interaction, per query token the best
  cosine with any of its tokens (a soft coverage of the question), averaged, and its 25th
  percentile (the worst-covered part of the question);
- ``idf_coverage``: the share of the question's content terms (BM25's terms: stemmed, stopwords
  and question words left out), weighted by idf, that the top passages contain word for word;
- ``idf_missing``: the largest idf among the content terms the top passages lack, over the largest
  idf the index has (0 when none is missing), a rare name the passages never mention;
- ``fused_margin``: how far the top document's fused score is ahead of the second's;
- ``sentence_best``: the best evidence sentence's cosine with the question;
- ``passage_coverage``: ``idf_coverage`` by the best single top passage (the union over three
  passages lets a topic's neighbouring paragraphs cover a question between them);
- ``sentence_coverage``: the same by the best single sentence of the top passages: a question is
  usually asked about one statement, and the sentence that answers it holds most of its terms
  together, where a paragraph that is only on the topic scatters them.

The model (standardisation, coefficients, threshold) is a small versioned JSON file,
``answerability.json`` beside this module, written by ``manage.py answerability_train`` from data
the project builds itself (see ``evaluation.answerability_data``). Plain Python and numpy: no Django.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

FEATURES = (
    "dense_best",
    "late_mean",
    "late_low",
    "idf_coverage",
    "idf_missing",
    "fused_margin",
    "sentence_best",
    "passage_coverage",
    "sentence_coverage",
)
MODEL_FILE = Path(__file__).resolve().parent / "answerability.json"
MODEL_KIND = "answerability-logistic"
FORMAT_VERSION = 1
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")

# Words a question is made of that say nothing about its topic (BM25 keeps them: its stop list is short).
# fmt: off
QUESTION_WORDS = frozenset(
    {
        "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much", "does",
        "did", "do", "done", "was", "were", "is", "are", "am", "been", "being", "has", "have", "had",
        "can", "could", "would", "should", "shall", "may", "might", "must", "will", "one", "ones",
        "name", "named", "kind", "type", "called", "call", "also", "some", "any", "other", "else",
        "there", "their", "they", "them", "his", "her", "its", "it's", "give", "example", "according",
    }
)
# fmt: on

Floats = npt.NDArray[np.float64]


class AnswerabilityModelError(ValueError):
    """A model file that cannot be used (missing, malformed, other features)."""


@dataclass(frozen=True, slots=True)
class RetrievalSignals:
    """What a search saw that the check needs, gathered while searching (nothing is recomputed)."""

    dense_best: float = 0.0
    # per query token, its best cosine with any token of the top document (None: no token vectors)
    token_maxima: npt.NDArray[np.float32] | None = None
    # the question's content terms, their idf, and the largest idf of the index
    term_idf: tuple[tuple[str, float], ...] = ()
    max_idf: float = 1.0
    # the terms of the top passages (the first passage of each of the top documents)
    passage_terms: tuple[frozenset[str], ...] = ()
    fused_scores: tuple[float, ...] = ()  # the top documents' fused scores, best first
    # the terms of each sentence of the top passages
    sentence_terms: tuple[frozenset[str], ...] = ()


def content_terms(question: str, tokenize: Callable[[str], list[str]]) -> list[str]:
    """The question's distinct index terms without its question words (``tokenize`` is BM25's)."""
    words = " ".join(w for w in question.lower().split() if w.strip("?,.!;:'\"()") not in QUESTION_WORDS)
    return list(dict.fromkeys(tokenize(words)))


def misspelt_terms_matched(
    term_idf: Sequence[tuple[str, float]],
    *,
    unknown_idf: float,
    candidates: Iterable[str],
    idf: Callable[[list[str]], Sequence[float]],
    real_words: Collection[str] = (),
) -> tuple[tuple[str, float], ...]:
    """``term_idf`` with each term that no document holds (its idf is ``unknown_idf``) replaced by
    the closest of ``candidates`` (the top passages' terms) within a small edit distance, and that
    term's own idf: a misspelt name ("Ghandi") would otherwise count as the rarest term of all and
    missing from every passage, and make a question its documents answer look unanswerable. A word
    the index does not hold and no passage spells nearly alike stays as it is, and so does a term in
    ``real_words`` (the terms of words a dictionary knows: "surrender" is no misspelling of
    "surround", only a word these documents do not use)."""
    unknown = [term for term, weight in term_idf if weight >= unknown_idf - 1e-9 and term not in real_words]
    if not unknown:
        return tuple(term_idf)
    pool = sorted(set(candidates))
    matched = {term: near for term in unknown if (near := _nearest_spelling(term, pool)) is not None}
    if not matched:
        return tuple(term_idf)
    weights = dict(zip(matched.values(), idf(list(matched.values())), strict=True))
    corrected = {matched.get(t, t): (float(weights[matched[t]]) if t in matched else w) for t, w in term_idf}
    return tuple(corrected.items())  # a term and its misspelling, both asked, count once


def _nearest_spelling(term: str, pool: Sequence[str]) -> str | None:
    """The term of ``pool`` closest to ``term`` by optimal string alignment (a swap of two
    neighbouring letters is one edit), allowing 1 edit for words of 4-5 letters and 2 from 6, with
    the same first letter; None when there is none (or ``term`` is shorter than 4 letters)."""
    if len(term) < 4 or not term.isalpha():
        return None
    allowed = 1 if len(term) < 6 else 2
    best: tuple[int, int, str] | None = None
    for other in pool:
        if other[:1] != term[:1] or abs(len(other) - len(term)) > allowed or not other.isalpha():
            continue
        distance = _osa_distance(term, other, allowed)
        if distance > allowed:
            continue
        # ties: the spelling with more letters in common (letters moved rather than changed)
        key = (distance, -sum((Counter(term) & Counter(other)).values()), other)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance between ``a`` and ``b`` (``limit + 1`` once it exceeds
    ``limit``)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def sentence_terms(texts: Iterable[str], tokenize: Callable[[str], list[str]]) -> tuple[frozenset[str], ...]:
    """The index terms of each sentence of ``texts`` (``tokenize`` is BM25's)."""
    return tuple(
        frozenset(tokenize(sentence))
        for text in texts
        for sentence in _SENTENCE_END.split(text)
        if sentence.strip()
    )


def features(signals: RetrievalSignals, *, sentence_best: float) -> Floats:
    """The feature vector of ``FEATURES``, in order."""
    maxima = signals.token_maxima
    if maxima is not None and maxima.size:
        late_mean, late_low = float(maxima.mean()), float(np.percentile(maxima, 25))
    else:
        late_mean = late_low = signals.dense_best  # no token vectors: the pooled cosine stands in
    coverage, missing = idf_coverage(signals.term_idf, signals.passage_terms)
    scores = signals.fused_scores
    margin = scores[0] - scores[1] if len(scores) > 1 else 0.0
    values = [
        signals.dense_best,
        late_mean,
        late_low,
        coverage,
        missing / max(signals.max_idf, 1e-9),
        margin,
        sentence_best,
        best_coverage(signals.term_idf, signals.passage_terms),
        best_coverage(signals.term_idf, signals.sentence_terms),
    ]
    return np.array(values, dtype=np.float64)


def idf_coverage(
    term_idf: Sequence[tuple[str, float]], passage_terms: Iterable[frozenset[str]]
) -> tuple[float, float]:
    """(the idf-weighted share of the terms found in some passage, the largest idf of a term found
    in none). No content term at all: fully covered, nothing missing."""
    present: set[str] = set().union(*passage_terms)
    total = sum(idf for _, idf in term_idf)
    if total <= 0:
        return 1.0, 0.0
    covered = sum(idf for term, idf in term_idf if term in present)
    missing = max((idf for term, idf in term_idf if term not in present), default=0.0)
    return covered / total, missing


def best_coverage(term_idf: Sequence[tuple[str, float]], term_sets: Sequence[frozenset[str]]) -> float:
    """The largest ``idf_coverage`` of the question's terms by any one of ``term_sets`` (1 when the
    question has no content term, 0 when there is no set)."""
    if not any(idf > 0 for _, idf in term_idf):
        return 1.0
    return max((idf_coverage(term_idf, [terms])[0] for terms in term_sets), default=0.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The check's decision: ``probability`` that the evidence answers, and whether to abstain."""

    probability: float
    threshold: float

    @property
    def abstain(self) -> bool:
        return self.probability < self.threshold


@dataclass(frozen=True, slots=True)
class AnswerabilityModel:
    """A logistic regression on standardised ``FEATURES``: p(answerable) = sigmoid(w . z + b). Fitted
    by ``retrieval.answerability_fit`` (training code, never run in the answer path)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    version: int = 1
    names: tuple[str, ...] = FEATURES
    # The lower bar of knowledge-base relevance: may a message the router sent away from the
    # documents go to them after all? Sending a real question away costs more than one LLM call
    # that says "not in your documents", so it misses fewer answerable cases (None: ``threshold``).
    relevance_threshold: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.names != FEATURES:
            raise AnswerabilityModelError(f"model features {self.names} are not {FEATURES}")
        if not len(self.mean) == len(self.scale) == len(FEATURES):
            raise AnswerabilityModelError("one mean and scale per feature")
        if len(self.coef) != len(FEATURES):
            raise AnswerabilityModelError("one coefficient per feature")
        for value in (self.threshold, self.relevance_threshold):
            if value is not None and not 0.0 <= value <= 1.0:
                raise AnswerabilityModelError(f"threshold {value} is not a probability")

    def probability(self, x: npt.ArrayLike) -> Floats:
        """p(answerable) of each row of ``x`` (or of one feature vector)."""
        rows = np.atleast_2d(np.asarray(x, dtype=np.float64))
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        return sigmoid(z @ np.asarray(self.coef) + self.intercept)

    def verdict(self, x: npt.ArrayLike, threshold: float | None = None) -> Verdict:
        """The decision for one feature vector (``threshold`` overrides the model's own)."""
        chosen = self.threshold if threshold is None else threshold
        return Verdict(float(self.probability(x)[0]), chosen)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": MODEL_KIND,
            "format_version": FORMAT_VERSION,
            "version": self.version,
            "features": list(self.names),
            "mean": [round(v, 6) for v in self.mean],
            "scale": [round(v, 6) for v in self.scale],
            "coef": [round(v, 6) for v in self.coef],
            "intercept": round(self.intercept, 6),
            "threshold": round(self.threshold, 6),
            **(
                {"relevance_threshold": round(self.relevance_threshold, 6)}
                if self.relevance_threshold is not None
                else {}
            ),
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AnswerabilityModel:
        if raw.get("kind") != MODEL_KIND or raw.get("format_version") != FORMAT_VERSION:
            raise AnswerabilityModelError("not an answerability model file of this format")
        if "hidden_weights" in raw:  # an experiment's format, measured and not kept
            raise AnswerabilityModelError("hidden-layer answerability models are not supported")
        try:
            return cls(
                mean=tuple(float(v) for v in raw["mean"]),
                scale=tuple(float(v) for v in raw["scale"]),
                coef=tuple(float(v) for v in raw["coef"]),
                intercept=float(raw["intercept"]),
                threshold=float(raw["threshold"]),
                relevance_threshold=(
                    None if raw.get("relevance_threshold") is None else float(raw["relevance_threshold"])
                ),
                version=int(raw["version"]),
                names=tuple(raw["features"]),
                meta=dict(raw.get("meta", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AnswerabilityModelError(f"malformed answerability model: {exc}") from exc

    def save(self, path: Path) -> None:
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temp.replace(path)

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> AnswerabilityModel:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise AnswerabilityModelError(f"cannot read {path}: {exc}") from exc
        return cls.from_json(raw)


def sigmoid(values: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(values, -40, 40))), dtype=np.float64)
