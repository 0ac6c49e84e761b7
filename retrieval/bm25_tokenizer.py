"""The BM25 tokenizer: lowercase, Unicode word split, English stopwords, Snowball stemming."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

import Stemmer

# scikit-learn's / bm25s's token pattern: Unicode word characters, two or more of them.
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # noqa: S105 (a regex, not a password)

STEM_CACHE_SIZE = 500_000

# Lucene's English stop set (also bm25s's "en" list); short on purpose, as BM25's idf does the rest.
# fmt: off
ENGLISH_STOPWORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
        "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
        "this", "to", "was", "will", "with",
    }
)
# fmt: on


class Bm25Tokenizer:
    """Turns text into index terms; the same instance must tokenise documents and queries.

    `stemmer_language` is a Snowball language name (PyStemmer), or None to keep words unstemmed.
    """

    def __init__(
        self,
        *,
        stopwords: Iterable[str] = ENGLISH_STOPWORDS,
        stemmer_language: str | None = "english",
    ) -> None:
        self._stopwords = frozenset(word.lower() for word in stopwords)
        self._language = stemmer_language
        self._pattern = re.compile(TOKEN_PATTERN)
        self._stems: dict[str, str] = {}  # word -> stem; dict reads and updates are atomic under the GIL
        self._local = threading.local()  # PyStemmer objects are not safe to share between threads
        if stemmer_language is not None and stemmer_language not in Stemmer.algorithms():
            raise ValueError(f"no Snowball stemmer for {stemmer_language!r}")

    def __call__(self, text: str) -> list[str]:
        words = [w for w in self._pattern.findall(text.lower()) if w not in self._stopwords]
        if self._language is None:
            return words
        return self._stem_all(words)

    def _stem_all(self, words: list[str]) -> list[str]:
        """Stem through a shared word -> stem cache; each call works on its own dict, so it is thread-safe."""
        stems: dict[str, str] = {}
        missing: list[str] = []
        for word in set(words):
            stem = self._stems.get(word)
            if stem is None:
                missing.append(word)
            else:
                stems[word] = stem
        if missing:
            new = dict(zip(missing, self._stemmer().stemWords(missing), strict=True))
            stems.update(new)
            if len(self._stems) > STEM_CACHE_SIZE:
                self._stems.clear()
            self._stems.update(new)
        return [stems[word] for word in words]

    def _stemmer(self) -> Any:
        stemmer = getattr(self._local, "stemmer", None)
        if stemmer is None:
            stemmer = Stemmer.Stemmer(self._language)
            self._local.stemmer = stemmer
        return stemmer

    def config(self) -> dict[str, Any]:
        """What a manifest records so that a loaded index tokenises queries as it did its documents."""
        return {
            "pattern": TOKEN_PATTERN,
            "stemmer_language": self._language,
            "stopwords": sorted(self._stopwords),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bm25Tokenizer:
        """Rebuild the tokenizer a manifest describes."""
        if config.get("pattern") != TOKEN_PATTERN:
            raise ValueError(f"unsupported token pattern {config.get('pattern')!r}")
        return cls(stopwords=config["stopwords"], stemmer_language=config["stemmer_language"])
