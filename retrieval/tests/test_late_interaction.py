"""Late interaction: token packing, the token filter, MaxSim and the reranker's contract."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedding import FakeEmbedder
from retrieval.hybrid import ChunkHit, GroupHit
from retrieval.late_interaction import (
    LateInteractionReranker,
    TokenEmbedder,
    kept_tokens,
    maxsim,
    pack_tokens,
    skipped_token_ids,
    unpack_tokens,
)


def _unit(rng: np.random.Generator, n: int, d: int = 8) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)


def test_pack_round_trips_within_int8_rounding() -> None:
    tokens = _unit(np.random.default_rng(0), 5, 384)
    back = unpack_tokens(pack_tokens(tokens), 384)
    assert back.shape == (5, 384) and back.dtype == np.float32
    np.testing.assert_allclose(back, tokens, atol=np.abs(tokens).max() / 127)
    assert len(pack_tokens(tokens)) == 5 * (384 + 4)
    assert unpack_tokens(pack_tokens(np.zeros((0, 384), np.float32)), 384).shape == (0, 384)
    with pytest.raises(ValueError, match="whole tokens"):
        unpack_tokens(b"\x00" * 7, 384)


def test_special_and_punctuation_pieces_are_skipped() -> None:
    vocab = {"[PAD]": 0, "[CLS]": 1, "[SEP]": 2, ",": 3, "##.": 4, "cell": 5, "##s": 6, "50%": 7, "(": 8}
    skipped = skipped_token_ids(vocab)
    assert [int(i) for i in np.flatnonzero(skipped)] == [0, 1, 2, 3, 4, 8]
    hidden = np.array([[2.0, 0], [0, 3.0], [1, 1], [4, 0]], dtype=np.float32)
    kept = kept_tokens([1, 5, 3, 6], hidden, skipped)  # [CLS] cell , ##s
    np.testing.assert_allclose(kept, [[0, 1], [1, 0]])


def test_maxsim_is_the_mean_of_each_query_tokens_best_match() -> None:
    query = np.eye(3, dtype=np.float32)[:2]  # two query tokens: e0, e1
    first = np.array([[1, 0, 0], [0, 0.5, 0]], dtype=np.float32)
    second = np.array([[0, 0, 1]], dtype=np.float32)
    empty = np.zeros((0, 3), dtype=np.float32)
    np.testing.assert_allclose(maxsim(query, [first, empty, second]), [0.75, 0.0, 0.0])


def _groups(scores: list[tuple[int, float, float, int]]) -> list[GroupHit]:
    """(document, dense, sparse, chunk id) -> one group per document, in the order given."""
    return [
        GroupHit(doc, -i, [ChunkHit(chunk, 0.0, dense_score=dense, sparse_score=sparse)])
        for i, (doc, dense, sparse, chunk) in enumerate(scores)
    ]


def test_rerank_reorders_only_the_top_k_with_three_equal_signals() -> None:
    # documents 2 and 3 tie on dense + BM25 (z-scores -1.22 + 0 and 0 - 1.22): late interaction decides
    groups = _groups([(1, 0.9, 5.0, 11), (2, 0.8, 3.0, 12), (3, 0.7, 4.0, 13), (4, 0.1, 0.0, 14)])
    query = np.eye(4, dtype=np.float32)[:1]
    match, miss = np.eye(4, dtype=np.float32)[:1], np.eye(4, dtype=np.float32)[1:2]
    tokens = {11: miss, 12: miss, 13: match, 14: match}
    ranked = LateInteractionReranker(top_k=3).rerank(groups, query, tokens)
    assert [g.group_id for g in ranked] == [1, 3, 2, 4]  # 4 is below top_k: it keeps its place
    # the scores come back: per document the combined one, per chunk its MaxSim; inputs untouched
    assert [g.rerank_score is not None for g in ranked] == [True, True, True, False]
    assert ranked[1].rerank_score is not None and ranked[2].rerank_score is not None
    assert ranked[1].rerank_score > ranked[2].rerank_score
    assert [h.rerank_score for g in ranked for h in g.chunks] == [0.0, 1.0, 0.0, None]
    assert all(g.rerank_score is None and g.chunks[0].rerank_score is None for g in groups)
    # a strong late match alone does not outvote both other signals: 1/3 weight each
    tokens = {11: miss, 12: miss, 13: match}
    swapped = _groups([(1, 0.9, 5.0, 11), (2, 0.8, 4.0, 12), (3, 0.7, 3.0, 13)])
    assert [g.group_id for g in LateInteractionReranker(top_k=3).rerank(swapped, query, tokens)] == [1, 2, 3]
    # no token vectors at all: every late score is 0, the order is the dense + BM25 one
    assert [g.group_id for g in LateInteractionReranker(top_k=3).rerank(groups, query, {})] == [1, 2, 3, 4]
    # no query tokens, or a single candidate: unchanged
    assert LateInteractionReranker().rerank(groups, np.zeros((0, 4), np.float32), tokens) == groups
    assert LateInteractionReranker(top_k=1).rerank(groups, query, tokens) == groups


def test_reranker_asks_for_the_chunks_of_the_top_k_only() -> None:
    groups = _groups([(1, 0.9, 5.0, 11), (2, 0.8, 4.0, 12), (3, 0.7, 3.0, 13)])
    assert LateInteractionReranker(top_k=2).chunk_ids(groups) == [11, 12]
    with pytest.raises(ValueError, match="top_k"):
        LateInteractionReranker(top_k=0)
    with pytest.raises(ValueError, match="max_chunks"):
        LateInteractionReranker(max_chunks=0)


def _long_documents(documents: int, chunks: int) -> list[GroupHit]:
    """Documents of ``chunks`` chunks each, chunks best first by a fused score that falls along the
    document and from one document to the next; chunk ids are 100 * document + position."""
    return [
        GroupHit(
            doc,
            -doc,
            [
                ChunkHit(100 * doc + j, -doc - 0.1 * j, dense_score=0.5, sparse_score=1.0)
                for j in range(chunks)
            ],
        )
        for doc in range(1, documents + 1)
    ]


class _Recording(dict[int, np.ndarray]):
    """Token vectors that note which chunks were read."""

    def __init__(self, tokens: dict[int, np.ndarray]) -> None:
        super().__init__(tokens)
        self.read: list[int] = []

    def get(self, key: int, default: np.ndarray | None = None) -> np.ndarray | None:  # type: ignore[override]
        self.read.append(key)
        return super().get(key, default)


def test_rerank_scores_a_bounded_set_of_chunks_however_long_the_documents() -> None:
    groups = _long_documents(documents=5, chunks=40)  # 200 chunks in the top documents
    reranker = LateInteractionReranker(top_k=5, max_chunks=12)
    wanted = reranker.chunk_ids(groups)
    # every document's best chunk, then the best of the rest by fused score, 12 in all
    assert wanted[:5] == [100, 200, 300, 400, 500] and len(wanted) == 12
    assert wanted[5:] == [101, 102, 103, 104, 105, 106, 107]
    query = np.eye(4, dtype=np.float32)[:1]
    tokens = _Recording({h.chunk_id: np.eye(4, dtype=np.float32)[1:2] for g in groups for h in g.chunks})
    tokens[540] = query  # a strong match deep inside the last document: not among the 12 scored
    tokens[105] = query  # one inside the first document's scored chunks
    ranked = reranker.rerank(groups, query, tokens)
    assert len(tokens.read) == 12 and set(tokens.read) == set(wanted)
    scored = [h.chunk_id for g in ranked for h in g.chunks if h.rerank_score is not None]
    assert sorted(scored) == sorted(wanted)
    assert ranked[0].group_id == 1 and ranked[0].chunks[5].rerank_score == 1.0


def test_a_document_with_no_scored_chunk_counts_as_its_worst_scored_peer() -> None:
    groups = _long_documents(documents=3, chunks=2)
    query = np.eye(4, dtype=np.float32)[:1]
    half = np.array([[0.5, 0.866, 0, 0]], dtype=np.float32)
    tokens = {100: query, 101: query, 200: half, 300: np.zeros((0, 4), np.float32)}
    # two chunks for three documents: document 3 gets no MaxSim and is scored as document 2 (the
    # worst scored), neither lifted nor sunk by a score it was never given
    ranked = LateInteractionReranker(top_k=3, max_chunks=2).rerank(groups, query, tokens)
    assert [g.group_id for g in ranked] == [1, 2, 3]
    assert [h.rerank_score for h in ranked[-1].chunks] == [None, None]
    assert ranked[1].rerank_score == pytest.approx(ranked[2].rerank_score)


def test_fake_embedder_gives_deterministic_word_tokens() -> None:
    fake = FakeEmbedder(seed=3)
    assert isinstance(fake, TokenEmbedder)
    vector, tokens = fake.embed_query_tokens("Vitamin D deficiency")
    np.testing.assert_array_equal(vector, fake.embed_query("Vitamin D deficiency"))
    _, [document] = fake.embed_documents_tokens(["deficiency of vitamin"])
    assert tokens.shape == (3, fake.dimension) and document.shape == (3, fake.dimension)
    # a shared word is a perfect match; the query's best matches: vitamin, deficiency, (d: none)
    assert maxsim(tokens, [document])[0] > 0.66
