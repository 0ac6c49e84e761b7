"""Late interaction (ColBERT-style MaxSim) with the embedder's own token vectors: the reranker.

A chunk's token vectors are the embedder's last hidden states (what its mean pooling averages),
each L2-normalised, without [CLS]/[SEP]/[PAD] and punctuation-only word pieces. They are stored
at ingest, packed as int8 with one float32 scale per token (``pack_tokens``), because computing
them at query time costs a model pass per candidate chunk.

``LateInteractionReranker`` reorders the fused top ``top_k`` documents: each gets three signals,
its best chunk's cosine, its best chunk's BM25 score and its best scored chunk's MaxSim (the mean
over query tokens of the best cosine with any chunk token); each is standardised over the
``top_k`` and the three are averaged with equal weights, as the fusion does. Documents below
``top_k`` keep their places, so recall@k for k >= top_k cannot change. Measured in
docs/benchmarks.md.

MaxSim is computed for a bounded set of chunks, never every chunk of the ``top_k`` documents (a
long document has dozens, and each costs a read of its token blob): each document's best fused
chunk, then the best of the others by their fused chunk score, ``max_chunks`` in all. A chunk far
down its document's fused order rarely holds what that document's best chunks miss.

Plain Python: no Django. The caller fetches the stored token vectors of the candidates' chunks.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from retrieval.hybrid import GroupHit

TokenVectors = npt.NDArray[np.float32]
SPECIAL_TOKENS = frozenset({"[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"})
TOP_K = 30  # fixed before measuring, by latency: ~100 chunks' tokens per query
MAX_CHUNKS = 64  # chunks scored by MaxSim per query, whatever the documents' lengths


@runtime_checkable
class TokenEmbedder(Protocol):
    """An embedder that also gives the token vectors its pooled vector is made of."""

    def embed_query_tokens(self, text: str) -> tuple[npt.NDArray[np.float32], TokenVectors]: ...

    def embed_documents_tokens(
        self, texts: Sequence[str], batch_size: int = 32
    ) -> tuple[npt.NDArray[np.float32], list[TokenVectors]]: ...


def skipped_token_ids(vocab: Mapping[str, int]) -> npt.NDArray[np.bool_]:
    """True for the vocabulary ids late interaction ignores: special and punctuation-only pieces."""
    mask = np.zeros(max(vocab.values(), default=-1) + 1, dtype=np.bool_)
    for token, token_id in vocab.items():
        piece = token.removeprefix("##")
        if token in SPECIAL_TOKENS or (piece and all(_is_punctuation(c) for c in piece)):
            mask[token_id] = True
    return mask


def _is_punctuation(char: str) -> bool:
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def kept_tokens(
    ids: Sequence[int], hidden: npt.NDArray[np.float32], skipped: npt.NDArray[np.bool_]
) -> TokenVectors:
    """The rows of ``hidden`` (one per id) that late interaction keeps, each L2-normalised."""
    id_array = np.asarray(ids, dtype=np.int64)
    keep = ~skipped[np.clip(id_array, 0, skipped.size - 1)]
    rows = np.asarray(hidden[: id_array.size][keep], dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.ascontiguousarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


def pack_tokens(tokens: TokenVectors) -> bytes:
    """Token vectors as bytes: a little-endian float32 scale per token, then int8 values."""
    tokens = np.asarray(tokens, dtype=np.float32)
    if tokens.ndim != 2:
        raise ValueError("token vectors must be a 2-d array")
    scale = np.abs(tokens).max(axis=1) / 127.0 if tokens.size else np.zeros(len(tokens), np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype("<f4")
    values = np.rint(tokens / scale[:, None]).astype(np.int8)
    return bytes(scale.tobytes() + values.tobytes())


def unpack_tokens(data: bytes, dimension: int) -> TokenVectors:
    """The token vectors ``pack_tokens`` stored (to within int8 rounding)."""
    count, rest = divmod(len(data), 4 + dimension)
    if rest:
        raise ValueError(f"{len(data)} bytes are not whole tokens of dimension {dimension}")
    scale = np.frombuffer(data, dtype="<f4", count=count)
    values = np.frombuffer(data, dtype=np.int8, offset=4 * count).reshape(count, dimension)
    return np.ascontiguousarray(values.astype(np.float32) * scale[:, None], dtype=np.float32)


def maxsim(query: TokenVectors, chunks: Sequence[TokenVectors]) -> npt.NDArray[np.float64]:
    """Each chunk's MaxSim: the mean over query tokens of the best dot product with its tokens."""
    if query.size == 0 or not chunks:
        return np.zeros(len(chunks))
    sizes = [len(c) for c in chunks]
    nonempty = [c for c in chunks if len(c)]
    if not nonempty:
        return np.zeros(len(chunks))
    sims = np.concatenate(nonempty) @ query.T  # (all chunk tokens, query tokens)
    starts = np.cumsum([0, *[s for s in sizes if s][:-1]])
    best = np.maximum.reduceat(sims, starts, axis=0).mean(axis=1)
    out = np.zeros(len(chunks))
    out[[i for i, s in enumerate(sizes) if s]] = best
    return out


@dataclass(frozen=True, slots=True)
class LateInteractionReranker:
    """Reorders the fused top ``top_k`` documents with MaxSim as a third, equally weighted signal,
    computed for at most ``max_chunks`` of their chunks."""

    top_k: int = TOP_K
    max_chunks: int = MAX_CHUNKS

    def __post_init__(self) -> None:
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1")
        if self.max_chunks < 1:
            raise ValueError("max_chunks must be at least 1")

    def chunk_ids(self, groups: Sequence[GroupHit]) -> list[int]:
        """The chunks MaxSim scores (and whose token vectors ``rerank`` needs): the best fused chunk
        of each top document first, then the others by fused chunk score, ``max_chunks`` in all."""
        top = groups[: self.top_k]
        firsts = [g.chunks[0] for g in top if g.chunks]
        rest = sorted((h for g in top for h in g.chunks[1:]), key=lambda h: (-h.score, h.chunk_id))
        return [h.chunk_id for h in [*firsts, *rest][: self.max_chunks]]

    def rerank(
        self, groups: Sequence[GroupHit], query_tokens: TokenVectors, tokens: Mapping[int, TokenVectors]
    ) -> list[GroupHit]:
        """``groups`` (fused, best first) with the top ``top_k`` reordered; a chunk missing from
        ``tokens`` counts as having no match, a document none of whose chunks was scored as its
        worst-scored peer. Fewer than two documents, or no query token: unchanged."""
        top = list(groups[: self.top_k])
        if len(top) < 2 or query_tokens.size == 0:
            return list(groups)
        wanted = self.chunk_ids(top)
        # one product for every scored chunk at once (per document, it was 30 small ones)
        scores = maxsim(query_tokens, [tokens.get(pk, _NONE) for pk in wanted])
        by_chunk = dict(zip(wanted, scores.tolist(), strict=True))
        late = np.array([_best(by_chunk.get(h.chunk_id) for h in g.chunks) for g in top])
        scored = np.array([any(h.chunk_id in by_chunk for h in g.chunks) for g in top])
        late[~scored] = late[scored].min() if scored.any() else 0.0
        dense = np.array([_best(h.dense_score for h in g.chunks) for g in top])
        sparse = np.array([_best(h.sparse_score for h in g.chunks) for g in top])
        final = (_standardised(dense) + _standardised(sparse) + _standardised(late)) / 3.0
        order = np.lexsort((np.arange(len(top)), -final))
        reranked = [
            replace(
                g,
                rerank_score=float(final[i]),
                chunks=[replace(h, rerank_score=by_chunk.get(h.chunk_id)) for h in g.chunks],
            )
            for i, g in enumerate(top)
        ]
        return [reranked[i] for i in order] + list(groups[self.top_k :])


_NONE = np.zeros((0, 1), dtype=np.float32)


def _best(values: Iterable[float | None] | npt.NDArray[np.float64]) -> float:
    present = [float(v) for v in values if v is not None]
    return max(present) if present else 0.0


def _standardised(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    spread = float(values.std())
    if spread == 0.0 or not np.isfinite(spread):
        return np.zeros_like(values)
    return np.asarray((values - values.mean()) / spread, dtype=np.float64)
