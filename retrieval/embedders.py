"""Which embedder a process uses: the one place that knows every kind."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from retrieval.embedding import Embedder, FakeEmbedder, OnnxEmbedder
from retrieval.embedding_torch import SentenceTransformerEmbedder


def onnx_runtime_available() -> bool:
    """Whether the fast embedder can run here (onnxruntime, and onnx to build the model file)."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


def load_embedder(kind: str = "auto", cache_dir: Path | None = None) -> Embedder:
    """An embedder by kind: auto | onnx-int8 | sentence-transformers | fake.

    ``auto`` picks ONNX int8 when ONNX Runtime is installed, else sentence-transformers. Nothing is
    loaded here; the model loads (and, the first time, the ONNX file is built) on first use. The
    other ONNX variants (``onnx_export.VARIANTS``) are for ``python -m evaluation.bench.embedding``;
    none is a product option (docs/architecture.md, "Options").
    """
    if kind == "auto":
        kind = "onnx-int8" if onnx_runtime_available() else "sentence-transformers"
    if kind in ("onnx", "onnx-int8"):
        return OnnxEmbedder(variant="int8", cache_dir=cache_dir)
    if kind == "sentence-transformers":
        return SentenceTransformerEmbedder()
    if kind == "fake":
        return FakeEmbedder()
    raise ValueError(f"unknown embedder kind {kind!r}")
