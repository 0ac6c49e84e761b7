"""A tenant's BM25 index over (chunk id, text) pairs, with scoping applied before the top-k.

Storage is one CSR matrix of raw term frequencies (a row per document), so add and remove are
vectorised array edits and idf / average length are recomputed exactly from it. Scores follow
Lucene's BM25: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf part = tf / (tf + k1 (1 - b + b dl/avgdl)).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy import sparse

from retrieval.bm25_tokenizer import Bm25Tokenizer
from retrieval.persist import (
    IndexLoadError,
    as_id_array,
    atomic_write,
    atomic_write_json,
    check_k,
    check_manifest,
    check_unique,
    next_version,
    read_json,
    utc_now_iso,
)
from retrieval.vector_index import SearchResult, empty_result

BM25_KIND = "bm25"
FORMAT_VERSION = 1
DATA_FILE = "bm25.npz"
MANIFEST_FILE = "bm25.json"

IntArray = npt.NDArray[np.int64]
TermRow = tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]  # (term ids, their counts)


@dataclass(frozen=True)
class Bm25Params:
    """BM25 constants; the defaults are Anserini's for BEIR."""

    k1: float = 0.9
    b: float = 0.4

    def __post_init__(self) -> None:
        if self.k1 < 0 or not 0 <= self.b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={self.k1}, b={self.b}")


@dataclass(frozen=True)
class _Postings:
    """Term frequencies as CSR parts: row r is document ids[r], terms indices[indptr[r]:indptr[r+1]]."""

    ids: IntArray
    indptr: IntArray
    indices: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.float32]

    @classmethod
    def empty(cls) -> _Postings:
        no_rows = np.empty(0, np.int64)
        return cls(no_rows, np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, np.float32))

    @cached_property
    def sorted_ids(self) -> tuple[IntArray, IntArray]:
        """(ids sorted, the row of each) for id -> row look-ups by binary search."""
        order = np.argsort(self.ids, kind="stable")
        return self.ids[order], order

    @cached_property
    def document_frequencies(self) -> IntArray:
        """How many documents hold each term id (ids past the end: none)."""
        return np.bincount(self.indices).astype(np.int64)

    def rows_of(self, ids: IntArray) -> IntArray:
        """Rows of the given ids that are present (absent ids are skipped)."""
        sorted_ids, order = self.sorted_ids
        pos = np.searchsorted(sorted_ids, ids)
        pos_clipped = np.minimum(pos, max(sorted_ids.size - 1, 0))
        hit = (pos < sorted_ids.size) & (sorted_ids[pos_clipped] == ids) if sorted_ids.size else pos < 0
        return np.asarray(order[pos[hit]], dtype=np.int64)

    def without_rows(self, rows: IntArray) -> _Postings:
        keep = np.ones(self.ids.size, dtype=bool)
        keep[rows] = False
        sizes = np.diff(self.indptr)
        keep_nnz = np.repeat(keep, sizes)
        indptr = np.concatenate([[0], np.cumsum(sizes[keep])]).astype(np.int64)
        return _Postings(self.ids[keep], indptr, self.indices[keep_nnz], self.tfs[keep_nnz])

    def plus(self, ids: IntArray, rows: list[TermRow]) -> _Postings:
        sizes = np.array([terms.size for terms, _ in rows], dtype=np.int64)
        indptr = np.concatenate([self.indptr, self.indptr[-1] + np.cumsum(sizes)]).astype(np.int64)
        indices = np.concatenate([self.indices, *(terms for terms, _ in rows)]).astype(np.int32)
        tfs = np.concatenate([self.tfs, *(counts for _, counts in rows)]).astype(np.float32)
        return _Postings(np.concatenate([self.ids, ids]), indptr, indices, tfs)


def _top_k(scores: npt.NDArray[np.float32], ids: IntArray, k: int) -> SearchResult:
    """The k best positive scores, ties broken by smaller id, padded with -1 / -inf; shapes (1, k)."""
    positive = scores > 0
    scores, ids = scores[positive], ids[positive]
    if scores.size > k:
        threshold = np.partition(scores, scores.size - k)[scores.size - k]
        near = scores >= threshold
        scores, ids = scores[near], ids[near]
    order = np.lexsort((ids, -scores))[:k]
    out_scores, out_ids = empty_result(1, k)
    out_scores[0, : order.size] = scores[order]
    out_ids[0, : order.size] = ids[order]
    return out_scores, out_ids


class Bm25Index:
    """BM25 over (id, text); add replaces ids already present; searches may run concurrently."""

    def __init__(self, *, params: Bm25Params | None = None, tokenizer: Bm25Tokenizer | None = None) -> None:
        self._params = params or Bm25Params()
        self._tokenizer = tokenizer or Bm25Tokenizer()
        self._vocab: dict[str, int] = {}
        self._postings = _Postings.empty()
        self._weights: sparse.csc_array | None = None
        self._version = 0

    @property
    def params(self) -> Bm25Params:
        return self._params

    @property
    def tokenizer(self) -> Bm25Tokenizer:
        return self._tokenizer

    @property
    def version(self) -> int:
        """The version this index was loaded or last saved as (0 when never saved)."""
        return self._version

    def __len__(self) -> int:
        return int(self._postings.ids.size)

    def __repr__(self) -> str:
        return f"Bm25Index(count={len(self)}, terms={len(self._vocab)}, params={self._params})"

    def add(self, ids: npt.ArrayLike, texts: Sequence[str]) -> None:
        """Index texts under ids; an id already present is replaced (idempotent re-ingestion)."""
        id_arr = as_id_array(ids)
        if isinstance(texts, str) or id_arr.size != len(texts):
            raise ValueError(f"got {id_arr.size} ids for {1 if isinstance(texts, str) else len(texts)} texts")
        if id_arr.size == 0:
            return
        check_unique(id_arr)
        rows = [self._term_row(text) for text in texts]
        self.remove(id_arr)
        self._postings = self._postings.plus(id_arr, rows)
        self._weights = None

    def _term_row(self, text: str) -> TermRow:
        term_ids = [self._vocab.setdefault(term, len(self._vocab)) for term in self._tokenizer(text)]
        terms, counts = np.unique(np.asarray(term_ids, dtype=np.int32), return_counts=True)
        return terms.astype(np.int32), counts.astype(np.float32)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids; missing ids are ignored. Returns how many were removed."""
        rows = self._postings.rows_of(as_id_array(ids))
        if rows.size:
            self._postings = self._postings.without_rows(rows)
            self._weights = None
        return int(rows.size)

    def contains(self, id_: int) -> bool:
        return bool(self._postings.rows_of(np.array([id_], dtype=np.int64)).size)

    def ids(self) -> IntArray:
        return self._postings.ids.copy()

    def search(
        self, query: str | Sequence[str], k: int, allowed_ids: npt.ArrayLike | None = None
    ) -> SearchResult:
        """Top-k (scores, ids), each (q, k), for one query text or a sequence of them.

        Only documents sharing a term with the query are returned (the rest pad with -1 / -inf).
        With `allowed_ids` only those documents are ranked at all: the scope is applied before
        the top-k, so k larger than the visible set yields exactly the visible matches.
        """
        queries = [query] if isinstance(query, str) else list(query)
        k = check_k(k)
        rows = None
        if allowed_ids is not None:
            rows = self._postings.rows_of(as_id_array(allowed_ids, name="allowed_ids"))
        results = [self._search_one(text, k, rows) for text in queries]
        if not results:
            return empty_result(0, k)
        return np.vstack([s for s, _ in results]), np.vstack([i for _, i in results])

    def _search_one(self, text: str, k: int, rows: IntArray | None) -> SearchResult:
        terms = [self._vocab[t] for t in self._tokenizer(text) if t in self._vocab]
        if not terms or len(self) == 0 or (rows is not None and rows.size == 0):
            return empty_result(1, k)
        cols, counts = np.unique(np.asarray(terms, dtype=np.int64), return_counts=True)
        scores = np.asarray(self._weight_matrix()[:, cols] @ counts.astype(np.float32), dtype=np.float32)
        ids = self._postings.ids
        if rows is not None:
            scores, ids = scores[rows], ids[rows]
        return _top_k(scores, ids, k)

    def idf(self, terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """Each term's idf as scoring uses it (terms as the tokenizer gives them); a term that no
        document holds gets the largest idf there is, that of a term in no document."""
        df_all = self._postings.document_frequencies
        ids = [self._vocab.get(term, -1) for term in terms]
        df = np.array([df_all[i] if 0 <= i < df_all.size else 0 for i in ids], dtype=np.float64)
        return np.asarray(np.log1p((len(self) - df + 0.5) / (df + 0.5)), dtype=np.float64)

    def warm_up(self) -> None:
        """Compute the scoring weights now rather than on the first search (readers call this)."""
        self._weight_matrix()

    def _weight_matrix(self) -> sparse.csc_array:
        """Per (document, term) BM25 weights, rebuilt after each change; columns are cheap to slice."""
        if self._weights is None:
            self._weights = self._compute_weights()
        return self._weights

    def _compute_weights(self) -> sparse.csc_array:
        post, k1, b = self._postings, self._params.k1, self._params.b
        n_docs, n_terms = post.ids.size, max(len(self._vocab), 1)
        sizes = np.diff(post.indptr)
        lengths = np.bincount(np.repeat(np.arange(n_docs), sizes), weights=post.tfs, minlength=n_docs)
        avgdl = float(lengths.mean()) if n_docs and lengths.mean() > 0 else 1.0
        df = np.bincount(post.indices, minlength=n_terms).astype(np.float64)
        idf = np.log1p((n_docs - df + 0.5) / (df + 0.5))
        norm = np.repeat(k1 * (1 - b + b * lengths / avgdl), sizes)
        data = (post.tfs / (post.tfs + norm) * idf[post.indices]).astype(np.float32)
        return sparse.csr_array((data, post.indices, post.indptr), shape=(n_docs, n_terms)).tocsc()

    def save(self, directory: Path, *, version: int | None = None) -> None:
        """Write term frequencies (npz) and manifest (JSON) atomically; the vocabulary is compacted."""
        directory.mkdir(parents=True, exist_ok=True)
        manifest_path = directory / MANIFEST_FILE
        new_version = next_version(manifest_path) if version is None else version
        vocab, indices = self._compact_vocab()
        arrays: dict[str, npt.NDArray[Any]] = {
            "ids": self._postings.ids,
            "indptr": self._postings.indptr,
            "indices": indices,
            "tfs": self._postings.tfs,
            "vocab": np.frombuffer("\n".join(vocab).encode(), dtype=np.uint8),
        }
        buffer = io.BytesIO()
        np.savez_compressed(buffer, allow_pickle=False, **arrays)
        atomic_write(directory / DATA_FILE, lambda tmp: tmp.write_bytes(buffer.getvalue()))
        manifest = {
            "kind": BM25_KIND,
            "format_version": FORMAT_VERSION,
            "count": len(self),
            "terms": len(vocab),
            "version": new_version,
            "k1": self._params.k1,
            "b": self._params.b,
            "tokenizer": self._tokenizer.config(),
            "created_at": utc_now_iso(),
        }
        atomic_write_json(manifest_path, manifest)
        self._version = new_version

    def _compact_vocab(self) -> tuple[list[str], npt.NDArray[np.int32]]:
        """Terms still used by some document, and the postings' term ids renumbered to match."""
        used = np.unique(self._postings.indices)
        by_id = sorted(self._vocab, key=self._vocab.__getitem__)
        vocab = [by_id[i] for i in used.tolist()]
        return vocab, np.searchsorted(used, self._postings.indices).astype(np.int32)

    @classmethod
    def load(cls, directory: Path, *, params: Bm25Params | None = None) -> Self:
        """Load an index saved by `save` with its tokenizer; `params` override the saved k1 and b.

        k1 and b only enter at scoring time, so changing them needs no rebuild; the tokenizer does.
        """
        manifest_path = directory / MANIFEST_FILE
        manifest = read_json(manifest_path)
        expected = {"format_version": FORMAT_VERSION}
        check_manifest(manifest, kind=BM25_KIND, path=manifest_path, expected=expected)
        try:
            with np.load(directory / DATA_FILE, allow_pickle=False) as data:
                arrays: dict[str, npt.NDArray[Any]] = {
                    name: data[name] for name in ("ids", "indptr", "indices", "tfs", "vocab")
                }
        except (OSError, ValueError, KeyError) as exc:
            raise IndexLoadError(f"unreadable BM25 data in {directory}: {exc}") from exc
        params = params or Bm25Params(k1=float(manifest["k1"]), b=float(manifest["b"]))
        index = cls(params=params, tokenizer=Bm25Tokenizer.from_config(manifest["tokenizer"]))
        text = arrays["vocab"].tobytes().decode()
        index._vocab = {term: i for i, term in enumerate(text.split("\n"))} if text else {}
        index._postings = _Postings(
            arrays["ids"].astype(np.int64), arrays["indptr"].astype(np.int64),
            arrays["indices"].astype(np.int32), arrays["tfs"].astype(np.float32),
        )  # fmt: skip
        if len(index) != manifest["count"] or len(index._vocab) != manifest["terms"]:
            raise IndexLoadError(f"{directory}: BM25 data does not match its manifest (torn write?)")
        index._version = int(manifest["version"])
        return index
