"""Hybrid retrieval with real FAISS and BM25 indexes and a deterministic fake embedder."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.bm25 import Bm25Index
from retrieval.embedding import FakeEmbedder
from retrieval.hybrid import HybridConfig, HybridRetriever, collapse, rrf_scores
from retrieval.vector_index import FaissVectorIndex

TEXTS = {
    1: "parental leave is sixteen weeks",
    2: "meals are reimbursed up to forty euros",
    3: "the cafeteria opens at eight",
    4: "parental leave requests go to human resources",
    5: "travel must be booked through the portal",
}


@pytest.fixture
def indexes():
    embedder = FakeEmbedder(dimension=16)
    ids = np.array(sorted(TEXTS), dtype=np.int64)
    dense = FaissVectorIndex(16, embedder.model_id)
    dense.add(ids, embedder.embed_documents([TEXTS[i] for i in ids]))
    sparse = Bm25Index()
    sparse.add(ids, [TEXTS[i] for i in ids])
    return embedder, dense, sparse


def test_rrf_sums_reciprocal_ranks():
    scores = rrf_scores([[1, 2, 3], [3, 1]], k=60)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    weighted = rrf_scores([[1], [2]], k=0, weights=[2.0, 1.0])
    assert weighted == {1: 2.0, 2: 1.0}
    with pytest.raises(ValueError, match="one weight per ranking"):
        rrf_scores([[1]], weights=[1.0, 2.0])


def test_collapse_keeps_each_group_at_its_best_rank():
    assert collapse([10, 11, 20, 12, 30, 99], {10: 1, 11: 1, 12: 1, 20: 2, 30: 3}) == [1, 2, 3]


def test_exact_text_is_found_by_both_searches_and_ranked_first(indexes):
    embedder, dense, sparse = indexes
    retriever = HybridRetriever(embedder)
    timings: dict[str, float] = {}
    retrieval = retriever.candidates(
        TEXTS[2], dense=dense, sparse=sparse, allowed_ids=np.array(sorted(TEXTS)), timings=timings
    )
    assert retrieval.hits[2].dense_rank == 1 and retrieval.hits[2].sparse_rank == 1
    assert set(timings) == {"embed", "dense", "sparse"}
    ranked = retriever.fuse(retrieval)
    assert ranked[0].group_id == 2 and ranked[0].chunks[0].chunk_id == 2


def test_nothing_outside_the_scope_even_with_a_large_k(indexes):
    embedder, dense, sparse = indexes
    retriever = HybridRetriever(embedder, HybridConfig(dense_k=1000, sparse_k=1000))
    allowed = np.array([3, 5], dtype=np.int64)
    retrieval = retriever.candidates("parental leave", dense=dense, sparse=sparse, allowed_ids=allowed)
    assert set(retrieval.hits) <= {3, 5}
    nothing = np.array([], dtype=np.int64)
    assert retriever.candidates("parental", dense=dense, sparse=sparse, allowed_ids=nothing).hits == {}


def test_groups_fuse_by_their_best_chunks_and_keep_passages_in_order(indexes):
    embedder, dense, sparse = indexes
    retriever = HybridRetriever(embedder)
    retrieval = retriever.candidates(
        "parental leave", dense=dense, sparse=sparse, allowed_ids=np.array(sorted(TEXTS))
    )
    hits = retrieval.hits
    groups = retriever.fuse(retrieval, {1: 100, 4: 100, 2: 200, 3: 300, 5: 500})
    assert groups[0].group_id == 100
    assert [c.chunk_id for c in groups[0].chunks] == sorted((1, 4), key=lambda c: -hits[c].score)
    assert len({g.group_id for g in groups}) == len(groups)
    assert [g.score for g in groups] == sorted((g.score for g in groups), reverse=True)


def test_score_fusion_completes_both_scores_for_every_pooled_chunk(indexes):
    embedder, dense, sparse = indexes
    retriever = HybridRetriever(embedder, HybridConfig(dense_k=1, sparse_k=1))
    pool = np.array(sorted(TEXTS), dtype=np.int64)
    retrieval = retriever.candidates("parental leave", dense=dense, sparse=sparse, allowed_ids=pool)
    assert len(retrieval.hits) <= 2  # each search gave one chunk
    vectors = embedder.embed_documents([TEXTS[i] for i in pool])
    group_of = {1: 100, 4: 100, 2: 200, 3: 300, 5: 500}
    groups = retriever.fuse_scores(
        retrieval, pool_ids=pool, pool_vectors=vectors, group_of=group_of, sparse=sparse
    )
    assert groups[0].group_id == 100  # both its chunks match "parental leave"
    assert sorted(c.chunk_id for g in groups for c in g.chunks) == sorted(TEXTS)
    chunks = {c.chunk_id: c for g in groups for c in g.chunks}
    assert all(c.dense_score is not None and c.sparse_score is not None for c in chunks.values())
    assert chunks[3].sparse_score == 0.0 and chunks[1].sparse_score > 0
    assert chunks[2].dense_score == pytest.approx(float(vectors[1] @ retrieval.vector))
    scores = [g.score for g in groups]
    assert scores == sorted(scores, reverse=True)


def test_score_fusion_of_a_single_candidate_and_of_nothing(indexes):
    embedder, dense, sparse = indexes
    retriever = HybridRetriever(embedder)
    one = np.array([3], dtype=np.int64)
    retrieval = retriever.candidates("cafeteria", dense=dense, sparse=sparse, allowed_ids=one)
    vectors = embedder.embed_documents([TEXTS[3]])
    groups = retriever.fuse_scores(
        retrieval, pool_ids=one, pool_vectors=vectors, group_of={3: 7}, sparse=sparse
    )
    assert [(g.group_id, g.score) for g in groups] == [(7, 0.0)]
    empty = np.array([], dtype=np.int64)
    nothing = retriever.candidates("cafeteria", dense=dense, sparse=sparse, allowed_ids=empty)
    assert (
        retriever.fuse_scores(nothing, pool_ids=empty, pool_vectors=vectors[:0], group_of={}, sparse=sparse)
        == []
    )


def test_an_unknown_fusion_is_refused_when_configured():
    with pytest.raises(ValueError, match="unknown fusion 'rff'; expected one of scores, rrf"):
        HybridConfig(fusion="rff")
