"""A fake embedder with known clusters, and CLINC150-format data built on it, for the router's tests."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

TOPIC = re.compile(r"topic-(\d+)\b")


class TopicEmbedder:
    """Deterministic vectors with known structure: a text that starts "topic-K" lies near axis K,
    any other text near the mean of the first ``topics`` axes (as close to every topic as to any
    other), each with a small jitter seeded by the text."""

    max_tokens = 256

    def __init__(self, *, topics: int = 4, dimension: int = 16, jitter: float = 0.05) -> None:
        self.topics = topics
        self.dimension = dimension
        self.jitter = jitter
        self.model_id = f"topic-fake-{dimension}"

    def _vector(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        vector = np.random.default_rng(seed).standard_normal(self.dimension) * self.jitter
        match = TOPIC.match(text)
        if match:
            vector[int(match.group(1)) % self.dimension] += 1.0
        else:
            vector[: self.topics] += 1.0 / np.sqrt(self.topics)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.stack([self._vector(text) for text in texts]) if texts else np.empty((0, self.dimension))

    def embed_query(self, text: str) -> np.ndarray:
        return self._vector(text)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def topic_rows(topics: int, per_topic: int, start: int = 0) -> list[list[str]]:
    """``per_topic`` [text, label] rows for each of ``topics`` topics, texts numbered from ``start``."""
    return [[f"topic-{k} example {start + i}", f"topic-{k}"] for k in range(topics) for i in range(per_topic)]


def stray_rows(count: int, start: int = 0) -> list[list[str]]:
    """``count`` out-of-scope rows (CLINC's label "oos")."""
    return [[f"stray message {start + i}", "oos"] for i in range(count)]


def write_clinc(path: Path) -> Path:
    """A tiny CLINC150-format file with known results on the test splits, for TopicEmbedder:

    - 20 in-scope test messages (4 topics x 5), of which one lies in the wrong topic (routed to
      topic-1, labelled topic-0) and one lies among the strays (routed out of scope);
    - 4 out-of-scope test messages, of which one lies in topic-2 (routed there).

    Expected: in-scope accuracy 18/20 = 0.9, OOS recall 3/4 = 0.75, OOS precision 3/4 = 0.75.
    """
    test = topic_rows(4, 5, start=1000)
    test[0] = ["topic-1 looks like another topic", "topic-0"]
    test[-1] = ["stray but labelled in scope", "topic-3"]
    data = {
        "train": topic_rows(4, 12),
        "val": topic_rows(4, 5, start=500),
        "test": test,
        "oos_train": stray_rows(6),
        "oos_val": stray_rows(3, start=500),
        "oos_test": [*stray_rows(3, start=1000), ["topic-2 but out of scope", "oos"]],
    }
    path.write_text(json.dumps(data))
    return path
