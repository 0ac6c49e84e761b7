"""The composition root of the retrieval engines, per process: one embedder, the hybrid retriever
and the tenants' index stores, loaded lazily; ingestion (writes) and search (reads) both take them here.

Nothing here loads at import time, so gunicorn and Celery can fork before any model or index is
in memory; each child process loads its own on first use.
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt
from django.conf import settings

from ingest.chunking import WordCountCache
from retrieval.embedders import load_embedder
from retrieval.embedding import Embedder
from retrieval.hybrid import HybridConfig, HybridRetriever
from retrieval.index_policy import IndexPolicy
from retrieval.store import TenantIndexes, TenantIndexStore
from retrieval.wordpiece import WordPieceTokenizer

_lock = threading.Lock()
_embedder: Embedder | None = None
_split_counter: WordCountCache | None = None
_retriever: HybridRetriever | None = None


def get_embedder() -> Embedder:
    """The process's embedder (``TESSERA_EMBEDDER``: a kind of ``retrieval.embedders.load_embedder``)."""
    global _embedder
    if _embedder is None:
        with _lock:
            if _embedder is None:
                _embedder = load_embedder(
                    settings.TESSERA["EMBEDDER"], cache_dir=Path(settings.TESSERA["MODELS_DIR"])
                )
    return _embedder


def get_split_counter() -> WordCountCache:
    """The chunker's fast token counter for the process's embedder (its word counts are kept)."""
    global _split_counter
    if _split_counter is None:
        embedder = get_embedder()
        tokenizer = getattr(embedder, "tokenizer", None)
        exact = isinstance(tokenizer, WordPieceTokenizer) and tokenizer.adds_up_over_whitespace
        counter = WordCountCache(embedder.count_tokens, exact=exact)
        with _lock:
            if _split_counter is None:
                _split_counter = counter
    return _split_counter


def get_retriever() -> HybridRetriever:
    """The process's hybrid retriever (dense + BM25, fused), around its embedder.

    FAISS gets one thread here: a query's exact search is a few milliseconds, and OpenMP threads
    spinning beside gunicorn's and Celery's own only slow everything down on few cores."""
    global _retriever
    if _retriever is None:
        import faiss

        faiss.omp_set_num_threads(settings.TESSERA["SEARCH_THREADS"])
        retriever = HybridRetriever(
            get_embedder(),
            HybridConfig(
                dense_k=settings.TESSERA["SEARCH_CANDIDATES"],
                sparse_k=settings.TESSERA["SEARCH_CANDIDATES"],
                fusion=settings.TESSERA["SEARCH_FUSION"],
            ),
        )
        with _lock:
            if _retriever is None:
                _retriever = retriever
    return _retriever


def reset_engines() -> None:
    """Forget loaded engines (tests that switch settings)."""
    global _embedder, _split_counter, _retriever
    with _lock:
        _embedder = None
        _split_counter = None
        _retriever = None
    index_store.cache_clear()


@cache
def index_store(tenant_id: int) -> TenantIndexStore:
    """The index store of one tenant (FAISS + BM25 under ``INDEX_DIR/<tenant id>``)."""
    embedder = get_embedder()
    threshold = settings.TESSERA["ANN_THRESHOLD"]
    return TenantIndexStore(
        Path(settings.INDEX_DIR),
        str(tenant_id),
        dimension=embedder.dimension,
        model_id=embedder.model_id,
        policy=IndexPolicy(ann_threshold=threshold) if threshold else IndexPolicy(),
    )


def indexes_add(
    indexes: TenantIndexes, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32], texts: list[str]
) -> None:
    """Add (or replace) chunks in both indexes, inside ``TenantIndexStore.write()``."""
    indexes.vectors.add(ids, vectors)
    indexes.bm25.add(ids, texts)


def indexes_remove(indexes: TenantIndexes, ids: npt.NDArray[np.int64]) -> None:
    """Remove chunks from both indexes, inside ``TenantIndexStore.write()``; missing ids are fine."""
    indexes.vectors.remove(ids)
    indexes.bm25.remove(ids)
