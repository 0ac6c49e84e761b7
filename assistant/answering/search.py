"""Search a tenant's documents for one principal: the retrieval path before any LLM.

    scope (governance.access) -> embed query -> dense + BM25 inside the scope -> pool every chunk of
    the documents found -> fuse by document -> rerank the top (late interaction with the stored
    token vectors of a bounded set of their best chunks) -> documents with their best passages

The scope is the set of chunk ids the principal may see; it is passed INTO both index searches,
so no result outside it can come back whatever ``k`` is. Ingest owns the chunk tables: the scope,
the pool, the token vectors and the passages are read through ``ingest.selectors``, by id within
the same tenant, which also drops ids an index still holds for a chunk deleted a moment ago.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from django.conf import settings

from config.engines import get_embedder, get_retriever, index_store
from governance.access import Principal
from ingest.selectors import (
    PassageRow,
    chunk_token_vectors,
    current_chunks_of_documents,
    passage_rows,
    visible_chunk_ids,
)
from retrieval.answerability import RetrievalSignals, content_terms, misspelt_terms_matched, sentence_terms
from retrieval.bm25 import Bm25Index
from retrieval.hybrid import ChunkHit, GroupHit, Retrieval
from retrieval.late_interaction import LateInteractionReranker, TokenVectors
from retrieval.vector_index import VectorIndex
from retrieval.wordpiece import WordPieceTokenizer


@dataclass(frozen=True, slots=True)
class PassageHit:
    """A chunk to show and cite: where it is in its document and how it scored."""

    chunk_id: int
    version_id: int
    score: float
    text: str
    heading_path: tuple[str, ...]
    page: int | None
    char_start: int
    char_end: int
    dense_rank: int | None
    sparse_rank: int | None
    rerank_score: float | None = None  # late interaction (MaxSim), when the search reranked it


@dataclass(frozen=True, slots=True)
class DocumentHit:
    """A document, scored by its best passages, with those passages best first."""

    document_id: int
    version_id: int
    title: str
    score: float
    passages: list[PassageHit]
    rerank_score: float | None = None  # the reranker's score, when the search reranked it


@dataclass(slots=True)
class SearchResults:
    query: str
    documents: list[DocumentHit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    query_vector: npt.NDArray[np.float32] | None = None  # the embedded query, for later stages
    signals: RetrievalSignals | None = None  # for the answerability check, when asked for

    @property
    def passages(self) -> list[PassageHit]:
        """Every passage, best document first."""
        return [p for d in self.documents for p in d.passages]


def search(
    *,
    principal: Principal,
    query: str,
    k: int = 10,
    passages_per_document: int = 3,
    rerank: bool = True,
    access_group_id: int | None = None,
    signals: bool = False,
) -> SearchResults:
    """The ``k`` best documents for ``query`` among those ``principal`` may see.

    ``rerank`` asks for the reranking stage (late interaction over the fused top documents; a
    no-op when the embedder gives no token vectors or ``RERANK_TOP_K`` is 0). ``access_group_id``
    narrows the scope to that group's documents (it never widens it). ``signals`` also gathers what
    the answerability check needs (``results.signals``).
    """
    results = SearchResults(query=query)
    timings = results.timings_ms
    started = time.perf_counter()
    scope = visible_chunk_ids(principal, access_group_id)
    timings["scope"] = _ms_since(started)
    started = time.perf_counter()
    indexes = index_store(principal.tenant_id).read()
    timings["load"] = _ms_since(started)
    retriever = get_retriever()
    retrieval = retriever.candidates(
        query, dense=indexes.vectors, sparse=indexes.bm25, allowed_ids=scope, timings=timings
    )
    results.query_vector = retrieval.vector
    if not retrieval.hits:
        return results
    started = time.perf_counter()
    pool_ids, pool_vectors, group_of = _pool(principal, retrieval.hits, scope, indexes.vectors)
    timings["pool"] = _ms_since(started)
    started = time.perf_counter()
    if retriever.config.fusion == "rrf":
        groups = retriever.fuse(retrieval, group_of)
    else:
        groups = retriever.fuse_scores(
            retrieval, pool_ids=pool_ids, pool_vectors=pool_vectors, group_of=group_of, sparse=indexes.bm25
        )
    timings["fuse"] = _ms_since(started)
    started = time.perf_counter()
    tokens: dict[int, TokenVectors] = {}
    if rerank:
        groups, tokens = _rerank(principal, groups, retrieval.tokens)
    timings["rerank"] = _ms_since(started)
    started = time.perf_counter()
    shown = [(group, group.chunks[:passages_per_document]) for group in groups[:k]]
    rows = passage_rows(principal, [hit.chunk_id for _, best in shown for hit in best])
    for group, best in shown:
        found = [(rows[h.chunk_id], h) for h in best if h.chunk_id in rows]  # none: deleted meanwhile
        if not found:
            continue
        first = found[0][0]
        results.documents.append(
            DocumentHit(
                document_id=group.group_id,
                version_id=first.version_id,
                title=first.title,
                score=group.score,
                passages=[_passage(row, h) for row, h in found],
                rerank_score=group.rerank_score,
            )
        )
    timings["fetch"] = _ms_since(started)
    if signals and groups:
        started = time.perf_counter()
        results.signals = _signals(
            principal, retrieval, groups, tokens=tokens, bm25=indexes.bm25, documents=results.documents
        )
        timings["signals"] = _ms_since(started)
    return results


SIGNAL_DOCUMENTS = 3  # the evidence the LLM would see: the best passage of each of the top documents
SIGNAL_CHUNKS = 3  # the top document's best chunks, whose tokens cover the question's


def _signals(
    principal: Principal,
    retrieval: Retrieval,
    groups: list[GroupHit],
    *,
    tokens: dict[int, TokenVectors],
    bm25: Bm25Index,
    documents: list[DocumentHit],
) -> RetrievalSignals:
    """What the answerability check needs, from what this search computed (the top document's
    token vectors are read only when reranking did not read them already)."""
    dense = [h.dense_score for h in retrieval.hits.values() if h.dense_score is not None]
    terms = content_terms(retrieval.query, bm25.tokenizer)
    texts = [d.passages[0].text for d in documents[:SIGNAL_DOCUMENTS] if d.passages]
    passage_terms = tuple(frozenset(bm25.tokenizer(text)) for text in texts)
    max_idf = float(bm25.idf([""])[0])  # a term in no document has the largest idf
    term_idf = misspelt_terms_matched(
        tuple(zip(terms, bm25.idf(terms).tolist(), strict=True)),
        unknown_idf=max_idf,
        candidates=frozenset().union(*passage_terms),
        idf=lambda found: bm25.idf(found).tolist(),
        real_words=_dictionary_terms(retrieval.query, bm25.tokenizer),
    )
    return RetrievalSignals(
        dense_best=max(dense, default=0.0),
        token_maxima=_token_maxima(principal, groups[0], retrieval.tokens, tokens),
        term_idf=term_idf,
        max_idf=max_idf,
        passage_terms=passage_terms,
        fused_scores=tuple(g.score for g in groups[:SIGNAL_DOCUMENTS]),
        sentence_terms=sentence_terms(texts, bm25.tokenizer),
    )


def _dictionary_terms(query: str, tokenize: Callable[[str], list[str]]) -> frozenset[str]:
    """The index terms of the query's words that the embedder's word-piece vocabulary holds whole:
    real words (or well-known names), never taken for misspellings."""
    whole = _whole_words()
    return frozenset(
        term for word in re.findall(r"[^\W\d_]+", query.lower()) if word in whole for term in tokenize(word)
    )


def _whole_words() -> frozenset[str]:
    """The whole words of the embedder's word-piece vocabulary (empty without one: a fake)."""
    tokenizer = getattr(get_embedder(), "tokenizer", None)
    return _vocabulary_words(tokenizer) if tokenizer is not None else frozenset()


@functools.cache
def _vocabulary_words(tokenizer: WordPieceTokenizer) -> frozenset[str]:
    return frozenset(w for w in tokenizer.vocabulary() if w.isalpha() and len(w) > 1)


def _token_maxima(
    principal: Principal,
    group: GroupHit,
    query_tokens: TokenVectors | None,
    known: dict[int, TokenVectors],
) -> npt.NDArray[np.float32] | None:
    """Per query token, its best cosine with any token of ``group``'s best chunks (None without
    token vectors)."""
    if query_tokens is None or query_tokens.size == 0:
        return None
    wanted = [h.chunk_id for h in group.chunks[:SIGNAL_CHUNKS]]
    if any(pk not in known for pk in wanted):
        known = {**known, **chunk_token_vectors(principal, wanted, query_tokens.shape[1])}
    rows = [known[pk] for pk in wanted if pk in known and len(known[pk])]
    if not rows:
        return None
    return np.asarray((np.concatenate(rows) @ query_tokens.T).max(axis=0), dtype=np.float32)


def _rerank(
    principal: Principal, groups: list[GroupHit], query_tokens: TokenVectors | None
) -> tuple[list[GroupHit], dict[int, TokenVectors]]:
    """The fused documents with the top ones reordered by late interaction, when it can run, and
    the token vectors it read (of ``RERANK_CHUNKS`` chunks at most, however long the documents)."""
    top_k = settings.TESSERA["RERANK_TOP_K"]
    if not top_k or query_tokens is None:
        return groups, {}
    reranker = LateInteractionReranker(top_k=top_k, max_chunks=settings.TESSERA["RERANK_CHUNKS"])
    wanted = reranker.chunk_ids(groups)
    tokens = chunk_token_vectors(principal, wanted, query_tokens.shape[1])
    if len(tokens) < len(wanted):
        # chunks indexed before token vectors were stored would score as matching nothing: keep
        # the fused order until they are embedded again
        return groups, tokens
    return reranker.rerank(groups, query_tokens, tokens), tokens


def _pool(
    principal: Principal, hits: Iterable[int], scope: npt.NDArray[np.int64], vectors: VectorIndex
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], dict[int, int]]:
    """Every searchable chunk of the documents the searches found, within the scope: their ids, their
    vectors as the index stores them (row for row) and their documents. Fusion scores all of them on
    both sides. Ids come from the database (the truth about what is current), vectors from the index
    (memory, not rows); a chunk the index does not hold yet is left out."""
    rows = current_chunks_of_documents(principal, list(hits))
    ids = np.array(sorted(rows), dtype=np.int64)
    # defence in depth: the scope decides, whatever the queries above say
    ids = ids[np.isin(ids, scope)]
    ids = np.array([i for i in ids.tolist() if vectors.contains(i)], dtype=np.int64)
    return ids, vectors.reconstruct(ids), {int(i): rows[int(i)] for i in ids}


def _passage(row: PassageRow, hit: ChunkHit) -> PassageHit:
    return PassageHit(
        chunk_id=row.chunk_id,
        version_id=row.version_id,
        score=hit.score,
        text=row.text,
        heading_path=row.heading_path,
        page=row.page,
        char_start=row.char_start,
        char_end=row.char_end,
        dense_rank=hit.dense_rank,
        sparse_rank=hit.sparse_rank,
        rerank_score=hit.rerank_score,
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
