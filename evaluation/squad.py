"""SQuAD v1.1 answer metrics, as its official evaluation script computes them (evaluate-v1.1.py).

An answer and a gold answer are normalised the same way (lowercased, ASCII punctuation removed,
the articles a/an/the removed, white space collapsed); exact match is equality of the normalised
strings, F1 the harmonic mean of token precision and recall (tokens as a multiset). A question
with several gold answers scores the best of them. Reported as percentages, as the script does.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, drop punctuation and articles, collapse white space (the script's order)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """Token F1 of the normalised strings (0.0 when they share no token, or either is empty)."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_gold(metric: Callable[[str, str], float], prediction: str, golds: Sequence[str]) -> float:
    """The best score of ``prediction`` against any of ``golds`` (0.0 for no gold answer)."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)
