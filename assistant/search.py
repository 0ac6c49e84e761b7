"""Search a tenant's documents for one principal: the retrieval path before any LLM.

    scope (governance.access) -> embed query -> dense + BM25 inside the scope -> fuse -> group by
    document -> (rerank) -> documents with their best passages

The scope is the set of chunk ids the principal may see; it is passed INTO both index searches,
so no result outside it can come back whatever ``k`` is. Chunk rows are then read back by id
within the same tenant, which also drops ids an index still holds for a chunk deleted a moment ago.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from governance.access import Principal, chunks_visible_to
from ingest.engines import get_retriever, index_store
from ingest.models import Chunk


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


@dataclass(frozen=True, slots=True)
class DocumentHit:
    """A document, scored by its best passages, with those passages best first."""

    document_id: int
    version_id: int
    title: str
    score: float
    passages: list[PassageHit]


@dataclass(slots=True)
class SearchResults:
    query: str
    documents: list[DocumentHit] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def passages(self) -> list[PassageHit]:
        """Every passage, best document first."""
        return [p for d in self.documents for p in d.passages]


def visible_chunk_ids(principal: Principal) -> npt.NDArray[np.int64]:
    """The ids of every chunk ``principal`` may see, as the index searches take them."""
    ids = chunks_visible_to(principal).order_by().values_list("id", flat=True)
    return np.fromiter(ids.iterator(chunk_size=10_000), dtype=np.int64)


def search(
    *, principal: Principal, query: str, k: int = 10, passages_per_document: int = 3, rerank: bool = True
) -> SearchResults:
    """The ``k`` best documents for ``query`` among those ``principal`` may see.

    ``rerank`` asks for the reranking stage; it is a no-op until a reranker is configured.
    """
    results = SearchResults(query=query)
    timings = results.timings_ms
    started = time.perf_counter()
    scope = visible_chunk_ids(principal)
    timings["scope"] = _ms_since(started)
    started = time.perf_counter()
    indexes = index_store(principal.tenant_id).read()
    timings["load"] = _ms_since(started)
    retriever = get_retriever()
    hits = retriever.candidates(
        query, dense=indexes.vectors, sparse=indexes.bm25, allowed_ids=scope, timings=timings
    )
    if not hits:
        return results
    started = time.perf_counter()
    rows = {
        row.pk: row
        for row in Chunk.objects.filter(tenant_id=principal.tenant_id, pk__in=list(hits))
        .select_related("version__document")
        .only(
            "id",
            "text",
            "heading_path",
            "page",
            "char_start",
            "char_end",
            "version_id",
            "version__document_id",
            "version__document__title",
        )
    }
    timings["fetch"] = _ms_since(started)
    started = time.perf_counter()
    groups = retriever.fuse(hits, {pk: row.version.document_id for pk, row in rows.items()})
    timings["fuse"] = _ms_since(started)
    timings["rerank"] = 0.0
    for group in groups[:k]:
        best = group.chunks[:passages_per_document]
        first = rows[best[0].chunk_id]
        results.documents.append(
            DocumentHit(
                document_id=group.group_id,
                version_id=first.version_id,
                title=first.version.document.title,
                score=group.score,
                passages=[_passage(rows[h.chunk_id], h.score, h.dense_rank, h.sparse_rank) for h in best],
            )
        )
    return results


def _passage(row: Chunk, score: float, dense_rank: int | None, sparse_rank: int | None) -> PassageHit:
    return PassageHit(
        chunk_id=row.pk,
        version_id=row.version_id,
        score=score,
        text=row.text,
        heading_path=tuple(row.heading_path or ()),
        page=row.page,
        char_start=row.char_start,
        char_end=row.char_end,
        dense_rank=dense_rank,
        sparse_rank=sparse_rank,
    )


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
