"""When two questions are the same question (the answer cache's text side; plain Python).

``normalise`` is the exact-match key. ``same_key_terms`` guards the embedding's side: a sentence
embedder puts "over 500 euros" and "over 5000 euros" at cosine 0.98, so two questions whose
numbers or names differ are never the same question, however close their vectors.
"""

from __future__ import annotations

import re
import unicodedata

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*")
_SENTENCE = re.compile(r"[.!?;:]+\s+")
_EDGE_PUNCTUATION = " \t\n?!.,;:\u00bf\u00a1\"'\u201c\u201d\u2018\u2019\u00ab\u00bb()"


def normalise(question: str) -> str:
    """The question as the exact-match key: case, spacing, Unicode forms and the punctuation around
    it do not matter ("How long is leave?" == "how long is leave")."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    return text.strip(_EDGE_PUNCTUATION)


def key_terms(question: str) -> frozenset[str]:
    """The words a paraphrase must keep: those with a digit (500, Q3, 2024) and names (a capital
    letter not at the start of a sentence: France, Acme, VPN), case-folded."""
    terms = set()
    for sentence in _SENTENCE.split(question):
        words = _WORD.findall(sentence)
        for i, word in enumerate(words):
            if any(c.isdigit() for c in word) or (i > 0 and word[0].isupper() and word != "I"):
                terms.add(word.casefold())
    return frozenset(terms)


def same_key_terms(question: str, other: str) -> bool:
    """Whether each question's key terms all appear among the other's words."""
    words = {w.casefold() for w in _WORD.findall(question)}
    other_words = {w.casefold() for w in _WORD.findall(other)}
    return key_terms(question) <= other_words and key_terms(other) <= words
