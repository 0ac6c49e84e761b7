"""Which vector index a tenant gets, and building or loading one: exact while small, IVF when large.

Exact search (`FaissVectorIndex`, Flat) is always right and needs no training, but its latency
grows with the tenant; past `ann_threshold` chunks the tenant is rebuilt, in the background, as
an `IvfVectorIndex`. Where that threshold lies, and the IVF's shape (nlist, nprobe, storage), come
from `python -m evaluation.bench.ann` (docs/benchmarks.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from retrieval.ivf_index import IVF_KIND, IvfVectorIndex
from retrieval.persist import IndexLoadError, read_json
from retrieval.vector_index import MANIFEST_FILE, VECTOR_KIND, FaissVectorIndex, VectorIndex

# Exact search's single-query p95 stays within 20 ms up to here on 2 cores (30 ms at 150k), see
# docs/benchmarks.md, "An index that grows".
ANN_THRESHOLD = 100_000
# An IVF is retrained (rebuilt) once it holds this many times the vectors it was trained for:
# its lists then hold 4x what they were sized for, so probes get 4x slower.
RETRAIN_GROWTH = 4.0
# Back to exact below this fraction of the threshold; the gap keeps a tenant near the threshold
# from being rebuilt back and forth.
SHRINK_FRACTION = 0.5
# k-means wants at least 39 points per centroid (FAISS warns below); more only slows training.
TRAIN_POINTS_PER_LIST = 40
# nlist ~ LISTS_PER_SQRT * sqrt(n) and nprobe = nlist / PROBE_DIVISOR, measured for recall@10 >= 0.95.
LISTS_PER_SQRT = 4.0
PROBE_DIVISOR = 64
DEFAULT_STORAGE = "SQfp16"


@dataclass(frozen=True)
class IndexSpec:
    """The kind of vector index to build: exact ("flat") or an IVF of a given shape."""

    kind: Literal["flat", "ivf"]
    nlist: int = 0
    nprobe: int = 0
    storage: str = DEFAULT_STORAGE

    def describe(self) -> str:
        if self.kind == "flat":
            return "Flat (exact)"
        return f"IVF{self.nlist},{self.storage} nprobe={self.nprobe}"


FLAT = IndexSpec("flat")


def ivf_spec(n_chunks: int, *, storage: str = DEFAULT_STORAGE) -> IndexSpec:
    """An IVF shaped for n chunks: ~4 sqrt(n) lists (at least 39 training points each), nprobe nlist/64."""
    nlist = max(1, min(round(LISTS_PER_SQRT * math.sqrt(n_chunks)), n_chunks // TRAIN_POINTS_PER_LIST))
    return IndexSpec("ivf", nlist=nlist, nprobe=max(1, math.ceil(nlist / PROBE_DIVISOR)), storage=storage)


@dataclass(frozen=True)
class IndexPolicy:
    """When a tenant's vector index is exact, when approximate, and when it must be rebuilt."""

    ann_threshold: int = ANN_THRESHOLD
    retrain_growth: float = RETRAIN_GROWTH
    storage: str = DEFAULT_STORAGE

    def choose(self, n_chunks: int) -> IndexSpec:
        """The index a tenant of n chunks should get when built from scratch."""
        return FLAT if n_chunks < self.ann_threshold else ivf_spec(n_chunks, storage=self.storage)

    def rebuild_needed(self, index: VectorIndex) -> IndexSpec | None:
        """What `index` should be rebuilt as now, or None while it still fits its size."""
        n = len(index)
        if isinstance(index, IvfVectorIndex):
            if n < self.ann_threshold * SHRINK_FRACTION:
                return FLAT
            if n >= self.retrain_growth * max(index.trained_on, 1):
                return ivf_spec(n, storage=self.storage)
            return None
        return self.choose(n) if n >= self.ann_threshold else None


def choose_index(n_chunks: int, policy: IndexPolicy | None = None) -> IndexSpec:
    """The index kind for a tenant of n chunks under `policy` (default thresholds)."""
    return (policy or IndexPolicy()).choose(n_chunks)


def build_vector_index(
    spec: IndexSpec,
    *,
    dimension: int,
    model_id: str,
    ids: npt.ArrayLike,
    vectors: npt.ArrayLike,
    seed: int = 0,
) -> VectorIndex:
    """A new index of kind `spec` holding these vectors; an IVF is trained on a seeded sample of them."""
    if spec.kind == "flat":
        flat = FaissVectorIndex(dimension, model_id)
        flat.add(ids, vectors)
        return flat
    index = trained_ivf(spec, dimension=dimension, model_id=model_id, vectors=vectors, seed=seed)
    index.add(ids, vectors)
    return index


def trained_ivf(
    spec: IndexSpec, *, dimension: int, model_id: str, vectors: npt.ArrayLike, seed: int = 0
) -> IvfVectorIndex:
    """An empty IVF of shape `spec`, trained on a seeded sample of `vectors` (40 per list at most)."""
    matrix = np.asarray(vectors, dtype=np.float32)
    index = IvfVectorIndex(dimension, model_id, nlist=spec.nlist, nprobe=spec.nprobe, storage=spec.storage)
    sample_size = min(matrix.shape[0], TRAIN_POINTS_PER_LIST * spec.nlist)
    rows = np.random.default_rng(seed).choice(matrix.shape[0], size=sample_size, replace=False)
    index.train(matrix[np.sort(rows)], corpus_size=matrix.shape[0])
    return index


def load_vector_index(
    directory: Path, *, model_id: str | None = None, dimension: int | None = None
) -> VectorIndex:
    """Load whichever vector index `directory` holds (its manifest's kind says which)."""
    kind = read_json(directory / MANIFEST_FILE).get("kind")
    if kind == VECTOR_KIND:
        return FaissVectorIndex.load(directory, model_id=model_id, dimension=dimension)
    if kind == IVF_KIND:
        return IvfVectorIndex.load(directory, model_id=model_id, dimension=dimension)
    raise IndexLoadError(f"{directory} holds a {kind!r} index, not a vector index")
