"""Which words a message uses, as a second opinion for the intent router: a multinomial naive Bayes
on TF-IDF-weighted word counts.

Naive Bayes trains in one pass over the examples (well under a second for CLINC150's 15,100), and
its mistakes differ from the embedding classifier's: on CLINC150's validation split, adding its
standardised log-probabilities to the classifier's logits (weight 0.5) made routing more accurate
at every out-of-scope recall (docs/benchmarks.md). Its arrays are saved with the router's (no pickle).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

Matrix = npt.NDArray[np.float32]
# A word: two or more letters or digits (scikit-learn's default token pattern), lower-cased.
WORD = re.compile(r"\b\w\w+\b")
ARRAY_NAMES = ("lexical_vocabulary", "lexical_idf", "lexical_log_prob", "lexical_prior", "lexical_scale")


def words(text: str) -> list[str]:
    """The message's words, lower-cased, in order."""
    return WORD.findall(text.lower())


class WordNaiveBayes:
    """Scores per class for messages: centred log-probabilities, standardised and weighted so they
    can be added to another classifier's logits. The arrays are those ``fit`` produced."""

    def __init__(self, arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise ValueError(f"lexical model arrays missing: {missing}")
        self.vocabulary_terms = np.asarray(arrays["lexical_vocabulary"], dtype=np.str_)
        self.idf = np.asarray(arrays["lexical_idf"], dtype=np.float32)
        self.log_prob = np.ascontiguousarray(arrays["lexical_log_prob"], dtype=np.float32)  # (V, C)
        self.prior = np.asarray(arrays["lexical_prior"], dtype=np.float32)
        self.scale = float(np.asarray(arrays["lexical_scale"]).reshape(()))
        if not len(self.vocabulary_terms) == len(self.idf) == self.log_prob.shape[0]:
            raise ValueError("lexical model arrays disagree on the vocabulary size")
        self.vocabulary = {term: i for i, term in enumerate(self.vocabulary_terms.tolist())}
        self.n_classes = self.prior.shape[0]

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        targets: npt.NDArray[np.intp],
        n_classes: int,
        *,
        smoothing: float,
        weight: float,
    ) -> WordNaiveBayes:
        """Learn the vocabulary, IDF and per-class word weights from ``texts`` and class indices
        ``targets``; ``weight`` is the standard deviation the scores are given (on these texts)."""
        if len(texts) != len(targets) or not texts:
            raise ValueError("one target per text, and at least one text")
        if smoothing <= 0 or weight <= 0:
            raise ValueError("smoothing and weight must be positive")
        terms = sorted({word for text in texts for word in words(text)})
        vocabulary = {term: i for i, term in enumerate(terms)}
        counts = _count_matrix(texts, vocabulary)
        df = np.bincount(counts.indices, minlength=len(terms))
        idf = np.log((1 + len(texts)) / (1 + df)) + 1  # scikit-learn's smoothed IDF
        one_hot = sparse.csr_matrix(
            (np.ones(len(targets)), (targets, np.arange(len(targets)))), shape=(n_classes, len(texts))
        )
        per_class = np.asarray((one_hot @ _tfidf(counts, idf)).todense()).T  # (V, C)
        smoothed = per_class + smoothing
        prior = np.bincount(targets, minlength=n_classes) + 1.0  # every class keeps some prior
        arrays: dict[str, npt.NDArray[np.generic]] = {
            "lexical_vocabulary": np.array(terms, dtype=np.str_),
            "lexical_idf": idf.astype(np.float32),
            "lexical_log_prob": (np.log(smoothed) - np.log(smoothed.sum(axis=0))).astype(np.float32),
            "lexical_prior": np.log(prior / prior.sum()).astype(np.float32),
            "lexical_scale": np.array(1.0, dtype=np.float32),
        }
        model = cls(arrays)
        spread = float(model.scores(texts).std())
        model.scale = weight / max(spread, 1e-6)
        return model

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The model by name, for saving beside the classifier's arrays."""
        return {
            "lexical_vocabulary": self.vocabulary_terms,
            "lexical_idf": self.idf,
            "lexical_log_prob": self.log_prob,
            "lexical_prior": self.prior,
            "lexical_scale": np.array(self.scale, dtype=np.float32),
        }

    def scores(self, texts: Sequence[str]) -> Matrix:
        """(len(texts), n_classes): each row's log-probabilities, centred on their mean, times the
        scale. A message with no known word gets the (centred) class priors."""
        if len(texts) == 1:  # the chat path: plain numpy, without sparse matrices' ~1 ms overhead
            logits = self._message_logits(texts[0])[np.newaxis, :]
        else:
            weights = _tfidf(_count_matrix(texts, self.vocabulary), self.idf)
            logits = np.asarray(weights @ self.log_prob, dtype=np.float32) + self.prior
        logits -= logits.max(axis=1, keepdims=True)
        logits -= np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return np.asarray((logits - logits.mean(axis=1, keepdims=True)) * self.scale, dtype=np.float32)

    def _message_logits(self, text: str) -> Matrix:
        """One message's class log-likelihoods + log-priors (what a one-row ``_count_matrix`` gives)."""
        counted = Counter(i for i in (self.vocabulary.get(word) for word in words(text)) if i is not None)
        if not counted:
            return self.prior.copy()
        columns = np.fromiter(counted.keys(), dtype=np.intp, count=len(counted))
        tf = np.fromiter(counted.values(), dtype=np.float32, count=len(counted))
        weights = (1.0 + np.log(tf)) * self.idf[columns]
        weights /= np.sqrt((weights**2).sum())
        return np.asarray(self.prior + weights @ self.log_prob[columns], dtype=np.float32)


def _count_matrix(texts: Sequence[str], vocabulary: Mapping[str, int]) -> Any:
    """A sparse (len(texts), len(vocabulary)) matrix: how often each text uses each known word."""
    columns: list[int] = []
    counts: list[int] = []
    starts = [0]
    for text in texts:
        counted = Counter(i for i in (vocabulary.get(word) for word in words(text)) if i is not None)
        columns += counted.keys()
        counts += counted.values()
        starts.append(len(columns))
    return sparse.csr_matrix(
        (np.asarray(counts, dtype=np.float64), np.asarray(columns, dtype=np.intp), starts),
        shape=(len(texts), len(vocabulary)),
    )


def _tfidf(counts: Any, idf: npt.NDArray[np.floating]) -> Any:
    """Sublinear term frequency times IDF, each row L2-normalised (a row of zeros stays zeros)."""
    weights = counts.copy()
    weights.data = (1.0 + np.log(weights.data)) * idf[weights.indices]
    # row norms from the stored values directly: scipy's generic products cost ~1 ms per message
    lengths = np.diff(weights.indptr)
    squares = np.concatenate([[0.0], np.cumsum(weights.data**2)])
    norms = np.sqrt(squares[weights.indptr[1:]] - squares[weights.indptr[:-1]])
    norms[norms == 0] = 1.0
    weights.data /= np.repeat(norms, lengths)
    # float32, as the word weights: a float64 matrix would make scipy copy them on every product
    return weights.astype(np.float32)
