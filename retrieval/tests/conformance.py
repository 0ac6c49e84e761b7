"""Adapters that let one conformance suite drive every index implementation.

An adapter makes an empty index, the payload to add for some ids (vectors or texts), a query for
which a given id is the exact best hit while every stored item still matches, and loads a saved
index. A new implementation (an HNSW or IVF variant, another BM25) joins the suite by adding an
adapter to ADAPTERS.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bm25 import Bm25Index
from retrieval.ivf_index import IvfVectorIndex
from retrieval.vector_index import FaissVectorIndex

DIMENSION = 16
MODEL_ID = "test-model@1"


def unit_vectors(ids: np.ndarray, variant: int = 0, dimension: int = DIMENSION) -> np.ndarray:
    """A deterministic L2-normalised vector per (id, variant)."""
    rows = []
    for id_ in ids.tolist():
        rng = np.random.default_rng([id_ % 2**32, id_ >> 32, variant])
        rows.append(rng.standard_normal(dimension))
    if not rows:
        return np.empty((0, dimension), dtype=np.float32)
    out = np.asarray(rows, dtype=np.float32)
    normalised: np.ndarray = out / np.linalg.norm(out, axis=1, keepdims=True)
    return normalised


@dataclass(frozen=True)
class VectorAdapter:
    name: str = "faiss-flat"

    def make(self) -> FaissVectorIndex:
        return FaissVectorIndex(DIMENSION, MODEL_ID)

    def payload(self, ids: np.ndarray, variant: int = 0) -> Any:
        return unit_vectors(ids, variant)

    def query_for(self, id_: int, variant: int = 0) -> Any:
        return unit_vectors(np.array([id_]), variant)[0]

    def load(self, directory: Path) -> FaissVectorIndex:
        return FaissVectorIndex.load(directory, model_id=MODEL_ID, dimension=DIMENSION)


@dataclass(frozen=True)
class IvfAdapter(VectorAdapter):
    """An IVF of 8 lists probing 2 (so searches really skip lists), trained on vectors it never holds."""

    name: str = "faiss-ivf"

    def make(self) -> IvfVectorIndex:  # type: ignore[override]
        index = IvfVectorIndex(DIMENSION, MODEL_ID, nlist=8, nprobe=2)
        index.train(unit_vectors(np.arange(400, dtype=np.int64) + 10**6, variant=99))
        return index

    def load(self, directory: Path) -> IvfVectorIndex:  # type: ignore[override]
        return IvfVectorIndex.load(directory, model_id=MODEL_ID, dimension=DIMENSION)


def doc_text(id_: int, variant: int = 0) -> str:
    """Every document shares "common"; "key<id>x<variant>" is its own rare term."""
    return f"common words about key{id_}x{variant} and nothing else"


@dataclass(frozen=True)
class Bm25Adapter:
    name: str = "bm25"

    def make(self) -> Bm25Index:
        return Bm25Index()

    def payload(self, ids: np.ndarray, variant: int = 0) -> Any:
        return [doc_text(i, variant) for i in ids.tolist()]

    def query_for(self, id_: int, variant: int = 0) -> Any:
        return f"common key{id_}x{variant}"

    def load(self, directory: Path) -> Bm25Index:
        return Bm25Index.load(directory)


ADAPTERS = [VectorAdapter(), IvfAdapter(), Bm25Adapter()]
