"""Hybrid retrieval: dense (FAISS) and BM25 searched inside the caller's scope, fused by rank.

Both searches receive the ids the asker may see and apply them INSIDE the search (FAISS
``IDSelector``; BM25 rows), so asking for more results can never reach past the scope, and no
later filter can be forgotten. Two fusions, both per group (document) so that each document keeps
its chunks, best first, as the passages to cite:

- ``fuse_scores`` (the default): every chunk of every candidate document gets BOTH scores (the
  cosine from its stored vector, the BM25 score from a search scoped to those chunks), a document
  takes its best chunk's score on each side, each side is standardised over the candidates
  (z-scores) and the two are averaged with equal weights. Filling in the score a search did not
  return, instead of treating it as zero, is what makes score fusion beat rank fusion (Bruch et
  al. 2023, "An analysis of fusion functions for hybrid retrieval").
- ``fuse`` (reciprocal-rank fusion, Cormack et al. 2009), the baseline: chunks collapse to their
  document at its best rank in each list.

Plain Python: no Django; the caller turns its principal into ``allowed_ids`` and its chunk rows
into ``group_of``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]
SearchResult = tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> npt.NDArray[np.float32]: ...


class DenseSearch(Protocol):
    def search(
        self, query: npt.ArrayLike, k: int, allowed_ids: npt.ArrayLike | None = None
    ) -> SearchResult: ...


class SparseSearch(Protocol):
    def search(self, query: str, k: int, allowed_ids: npt.ArrayLike | None = None) -> SearchResult: ...


FUSIONS = ("scores", "rrf")


@dataclass(frozen=True, slots=True)
class HybridConfig:
    """How many candidates each search gives, and how ranks are fused.

    Defaults are the textbook ones (RRF k = 60, equal weights), not tuned on any benchmark."""

    dense_k: int = 100
    sparse_k: int = 100
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    sparse_weight: float = 1.0
    fusion: str = "scores"  # "scores" (standardised scores, completed) or "rrf"

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {self.fusion!r}; expected one of {', '.join(FUSIONS)}")


@dataclass(slots=True)
class ChunkHit:
    """One chunk as the searches saw it (ranks are 1-based; None: that search did not return it)."""

    chunk_id: int
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    sparse_score: float | None = None
    sparse_rank: int | None = None
    rerank_score: float | None = None  # MaxSim with the query's tokens, once reranked


@dataclass(slots=True)
class GroupHit:
    """A document (or any group of chunks) with its fused score and its chunks, best first."""

    group_id: int
    score: float
    chunks: list[ChunkHit] = field(default_factory=list)
    rerank_score: float | None = None  # the reranker's score (dense, sparse and late), once reranked


def rrf_scores(
    rankings: Sequence[Sequence[int]], *, k: float = 60.0, weights: Sequence[float] | None = None
) -> dict[int, float]:
    """Reciprocal-rank fusion: sum over rankings of weight / (k + rank), rank counted from 1."""
    weights = weights if weights is not None else [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return scores


def collapse(ranking: Sequence[int], group_of: Mapping[int, int]) -> list[int]:
    """The groups of a ranked list of chunks, each at the rank of its best chunk."""
    seen: dict[int, None] = {}
    for chunk_id in ranking:
        group = group_of.get(chunk_id)
        if group is not None and group not in seen:
            seen[group] = None
    return list(seen)


def _valid(result: SearchResult) -> tuple[list[int], list[float]]:
    scores, ids = result
    keep = ids[0] >= 0
    return [int(i) for i in ids[0][keep]], [float(s) for s in scores[0][keep]]


@dataclass(slots=True)
class Retrieval:
    """What the two searches returned for one query (chunk ids are within the scope)."""

    query: str
    vector: npt.NDArray[np.float32] | None
    hits: dict[int, ChunkHit]
    # the query's token vectors, when the embedder gives them (late interaction reranks with them)
    tokens: npt.NDArray[np.float32] | None = None


class HybridRetriever:
    """Dense + BM25 within a scope, fused by reciprocal rank, optionally grouped by document."""

    def __init__(self, embedder: QueryEmbedder, config: HybridConfig | None = None) -> None:
        self.embedder = embedder
        self.config = config or HybridConfig()

    def candidates(
        self,
        query: str,
        *,
        dense: DenseSearch,
        sparse: SparseSearch,
        allowed_ids: Ids,
        timings: dict[str, float] | None = None,
    ) -> Retrieval:
        """Every chunk either search returned within ``allowed_ids``, with its scores and ranks.

        ``allowed_ids`` is required: there is no unscoped search. An empty scope returns nothing.
        """
        timings = timings if timings is not None else {}
        hits: dict[int, ChunkHit] = {}
        if allowed_ids.size == 0 or not query.strip():
            return Retrieval(query, None, hits)
        started = time.perf_counter()
        tokens = None
        embed_tokens = getattr(self.embedder, "embed_query_tokens", None)
        if embed_tokens is not None:  # the same model pass gives the token vectors
            vector, tokens = embed_tokens(query)
        else:
            vector = self.embedder.embed_query(query)
        timings["embed"] = _ms_since(started)
        started = time.perf_counter()
        dense_ids, dense_scores = _valid(dense.search(vector, self.config.dense_k, allowed_ids))
        timings["dense"] = _ms_since(started)
        started = time.perf_counter()
        sparse_ids, sparse_scores = _valid(sparse.search(query, self.config.sparse_k, allowed_ids))
        timings["sparse"] = _ms_since(started)
        for rank, (chunk_id, score) in enumerate(zip(dense_ids, dense_scores, strict=True), start=1):
            hits[chunk_id] = ChunkHit(chunk_id, 0.0, dense_score=score, dense_rank=rank)
        for rank, (chunk_id, score) in enumerate(zip(sparse_ids, sparse_scores, strict=True), start=1):
            hit = hits.setdefault(chunk_id, ChunkHit(chunk_id, 0.0))
            hit.sparse_score, hit.sparse_rank = score, rank
        return Retrieval(query, vector, hits, tokens)

    def fuse_scores(
        self,
        retrieval: Retrieval,
        *,
        pool_ids: Ids,
        pool_vectors: npt.NDArray[np.float32],
        group_of: Mapping[int, int],
        sparse: SparseSearch,
    ) -> list[GroupHit]:
        """Score fusion over a completed pool: ``pool_ids`` are every chunk (within the scope) of the
        candidate documents, ``pool_vectors`` their stored vectors, row for row.

        Each chunk gets its cosine to the query and its BM25 score (0 without a shared term); a
        group's score on each side is its best chunk's; both sides are standardised over the groups
        and averaged (``dense_weight``/``sparse_weight``, equal by default). Passages inside a group
        are ordered by the same combination at chunk level."""
        if retrieval.vector is None or pool_ids.size == 0:
            return []
        dense_scores = np.asarray(pool_vectors @ retrieval.vector, dtype=np.float64)
        found_scores, found_ids = sparse.search(retrieval.query, int(pool_ids.size), pool_ids)
        found = {int(i): float(s) for i, s in zip(found_ids[0], found_scores[0], strict=True) if i >= 0}
        sparse_scores = np.array([found.get(int(i), 0.0) for i in pool_ids], dtype=np.float64)
        groups = np.array([group_of[int(i)] for i in pool_ids], dtype=np.int64)
        group_ids, inverse = np.unique(groups, return_inverse=True)
        best_dense = np.full(group_ids.size, -np.inf)
        best_sparse = np.full(group_ids.size, -np.inf)
        np.maximum.at(best_dense, inverse, dense_scores)
        np.maximum.at(best_sparse, inverse, sparse_scores)
        weights = np.array([self.config.dense_weight, self.config.sparse_weight])
        weights = weights / weights.sum()
        group_score = weights[0] * _standardised(best_dense) + weights[1] * _standardised(best_sparse)
        chunk_score = weights[0] * _standardised(dense_scores) + weights[1] * _standardised(sparse_scores)
        out = {
            int(g): GroupHit(int(g), float(score)) for g, score in zip(group_ids, group_score, strict=True)
        }
        for row in np.lexsort((pool_ids, -chunk_score)):
            chunk_id = int(pool_ids[row])
            hit = retrieval.hits.get(chunk_id) or ChunkHit(chunk_id, 0.0)
            hit.score, hit.dense_score, hit.sparse_score = (
                float(chunk_score[row]),
                float(dense_scores[row]),
                float(sparse_scores[row]),
            )
            out[int(groups[row])].chunks.append(hit)
        return sorted(out.values(), key=lambda g: (-g.score, g.group_id))

    def fuse(self, retrieval: Retrieval, group_of: Mapping[int, int] | None = None) -> list[GroupHit]:
        """Fused ranking, best first. Without ``group_of`` each chunk is its own group.

        Chunks get their chunk-level RRF score (which orders the passages inside a group); groups
        are fused from their collapsed rankings, so a group's score is the RRF of its best ranks."""
        config = self.config
        hits = retrieval.hits
        weights = (config.dense_weight, config.sparse_weight)
        dense_ranking = _ranking(hits, "dense_rank")
        sparse_ranking = _ranking(hits, "sparse_rank")
        chunk_scores = rrf_scores([dense_ranking, sparse_ranking], k=config.rrf_k, weights=weights)
        for chunk_id, hit in hits.items():
            hit.score = chunk_scores.get(chunk_id, 0.0)
        if group_of is None:
            ordered = sorted(hits.values(), key=lambda h: (-h.score, h.chunk_id))
            return [GroupHit(h.chunk_id, h.score, [h]) for h in ordered]
        group_scores = rrf_scores(
            [collapse(dense_ranking, group_of), collapse(sparse_ranking, group_of)],
            k=config.rrf_k,
            weights=weights,
        )
        groups: dict[int, GroupHit] = {g: GroupHit(g, s) for g, s in group_scores.items()}
        for hit in sorted(hits.values(), key=lambda h: (-h.score, h.chunk_id)):
            group = group_of.get(hit.chunk_id)
            if group is not None:
                groups[group].chunks.append(hit)
        return sorted(groups.values(), key=lambda g: (-g.score, g.group_id))


def _ranking(hits: Mapping[int, ChunkHit], attribute: str) -> list[int]:
    ranked = [
        (rank, chunk_id) for chunk_id, hit in hits.items() if (rank := getattr(hit, attribute)) is not None
    ]
    return [chunk_id for _, chunk_id in sorted(ranked)]


def _standardised(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """z-scores; all-equal values (one candidate, or no signal at all) standardise to zeros."""
    spread = float(values.std())
    if spread == 0.0 or not np.isfinite(spread):
        return np.zeros_like(values)
    return np.asarray((values - values.mean()) / spread, dtype=np.float64)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
