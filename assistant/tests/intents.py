"""Test doubles for training tenant routers fast: a tiny default training set and an embedder whose
vectors say which topic word a message contains (so a router trained on it generalises, as the
real one does, to messages it has not seen)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

# topic word -> axis; a message's vector leans on the axes of the topic words it contains
TOPICS = ("policy", "find", "hello", "weather", "idiot", "lunch", "payroll", "parking")

BASE_EXAMPLES = {
    "question": ["What does the policy say about leave?", "Is the travel policy strict?",
                 "How does the expense policy work?", "Which policy covers overtime?"],
    "search": ["find the onboarding guide", "find the slides from Monday",
               "please find the travel form", "find every contract"],
    "smalltalk": ["hello there", "hello, how are you?", "well hello", "hello again"],
    "out_of_scope": ["what is the weather like", "weather in Paris tomorrow",
                     "will the weather be sunny", "weather forecast please"],
    "abuse": ["you idiot", "what an idiot bot", "idiot machine", "stop being an idiot"],
}  # fmt: skip


def write_base_examples(path: Path) -> Path:
    """The tiny default training set, as a JSON Lines file."""
    path.write_text(
        "".join(
            json.dumps({"text": t, "label": label}) + "\n" for label, ts in BASE_EXAMPLES.items() for t in ts
        )
    )
    return path


class TopicEmbedder:
    """Deterministic vectors: one unit per topic word the text contains, plus a little noise hashed
    from the text; no model, no I/O."""

    max_tokens = 256

    def __init__(self, dimension: int = 16) -> None:
        self.dimension = dimension
        self.model_id = f"topic-{dimension}"

    def _vector(self, text: str) -> np.ndarray:
        digest = hashlib.sha256(text.encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        vector = 0.15 * rng.standard_normal(self.dimension)
        lowered = text.lower()
        for axis, word in enumerate(TOPICS):
            if word in lowered:
                vector[axis] += 1.0
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def embed_documents(self, texts, batch_size=32):
        return (
            np.stack([self._vector(t) for t in texts]) if texts else np.empty((0, self.dimension), np.float32)
        )

    def embed_query(self, text):
        return self._vector(text)

    def count_tokens(self, text):
        return len(text.split())
