"""The reference embedder: the packaged all-MiniLM-L6-v2 through sentence-transformers and torch
(fp32). Slower than the ONNX embedder it is checked against; chosen by
``TESSERA_EMBEDDER=sentence-transformers``, or by ``auto`` where ONNX Runtime is not installed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedding import (
    DIMENSION,
    MAX_TOKENS,
    MODEL_NAME,
    Vectors,
    embed_in_length_order,
    load_tokenizer,
    normalize_rows,
    packaged_model_dir,
)
from retrieval.wordpiece import WordPieceTokenizer


class SentenceTransformerEmbedder:
    """The reference: sentence-transformers with torch fp32, from the packaged model folder."""

    model_id = MODEL_NAME
    dimension = DIMENSION
    max_tokens = MAX_TOKENS

    def __init__(self, *, model_dir: Path | None = None, length_sorted: bool = True) -> None:
        self._model_dir = model_dir
        self.length_sorted = length_sorted
        self._lock = threading.Lock()
        self._model: Any = None

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        return load_tokenizer(self._model_dir, self.max_tokens)

    def warm_up(self) -> None:
        """Load the model (call in the worker, after any fork)."""
        self._get_model()

    def _get_model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                model_dir = self._model_dir or packaged_model_dir()
                self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
                self._model.max_seq_length = self.max_tokens
            return self._model

    def _encode(self, texts: Sequence[str], batch_size: int) -> Vectors:
        vectors = self._get_model().encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return normalize_rows(vectors)

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        """Embed many texts: (len(texts), 384), in the order given."""
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        if not self.length_sorted:  # sentence-transformers sorts by characters inside encode()
            return self._encode(texts, batch_size)
        lengths = [len(row) for row in self.tokenizer.encode(texts)]
        return embed_in_length_order(
            lengths,
            batch_size,
            lambda batch: self._encode([texts[i] for i in batch], len(batch)),
            self.dimension,
        )

    def embed_query(self, text: str) -> Vectors:
        """Embed one text: (384,)."""
        return np.ascontiguousarray(self._encode([text], 1)[0], dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """Word pieces of ``text`` without special tokens (the chunker's length function)."""
        return self.tokenizer.count(text)
