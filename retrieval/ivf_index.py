"""The approximate vector index of large tenants: a FAISS inverted file (IVF) with native int64 ids.

Why IVF and not HNSW: IVF can remove ids (documents are deleted and replaced all the time; HNSW
cannot remove), trains in seconds to a minute and adds a million vectors in well under a minute
on 2 cores, where HNSW needed 34 s for 100k vectors (measured, docs/benchmarks.md).

Why not `IndexIDMap2` around the IVF, as `FaissVectorIndex` does around Flat: `IndexIDMap2.remove_ids`
assumes the inner index renumbers its rows after a removal, as IndexFlat does; IVF does not, so
after one removal every search answers with wrong ids (measured with faiss 1.15.1: 0 of 10
self-hits). The IVF keeps the chunk ids itself, and a hashtable direct map gives reconstruct by id
(exact search over a small scope, catching up after a background rebuild) and removal by id.

Scope: a small scope (at most `exact_scope_fraction` of the index, or no more ids than k) is
searched exactly over the allowed ids' own vectors, since an IVF probe would hold only a few of
them; a larger scope is searched in the IVF with an `IDSelector` and nprobe scaled by 1 / (scope
fraction), so about as many allowed vectors are compared as an unscoped search compares (at
nprobe = nlist that is an exact scan of the scope too).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Self

import faiss
import numpy as np
import numpy.typing as npt

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
from retrieval.vector_index import (
    INDEX_FILE,
    MANIFEST_FILE,
    PAD_SCORE,
    SearchResult,
    as_vectors,
    empty_result,
    scope_selector,
)

IVF_KIND = "faiss-ivf"
IVF_FORMAT_VERSION = 1
STORAGES = ("Flat", "SQfp16", "SQ8")
# A scope holding at most this fraction of the index is searched exactly over its own vectors;
# above it, the IVF scan with a selector is faster (1M chunks: 1,000 ids 2.9 vs 8.8 ms, 2,500 ids
# 16.0 vs 9.5 ms at p50; reconstructing an id costs 1-6 us). Both are exact below nprobe/nlist.
EXACT_SCOPE_FRACTION = 0.0015
# k-means iterations when training: FAISS's default 25 gave the same recall@10 as 10 (0.9973 both,
# 200k synthetic vectors, nprobe 28 of 1,789 lists) and trained 2.3x slower (39 s vs 17 s).
TRAIN_ITERATIONS = 10
HASHTABLE_DIRECT_MAP: int = faiss.DirectMap.Hashtable  # type: ignore[attr-defined]  # not in faiss's stubs


class IvfVectorIndex:
    """Approximate inner-product search: `IVF{nlist},{storage}` probing `nprobe` lists per query.

    Must be trained (`train`) before vectors are added; adding to a trained index needs no
    retraining (the policy in `retrieval.index_policy` rebuilds it once it has grown a lot).
    Searches may run concurrently (they change nothing); writes must be serialised by the caller.
    """

    def __init__(
        self,
        dimension: int,
        model_id: str,
        *,
        nlist: int,
        nprobe: int,
        storage: str = "SQfp16",
        exact_scope_fraction: float = EXACT_SCOPE_FRACTION,
    ) -> None:
        if dimension < 1 or not model_id:
            raise ValueError("dimension must be positive and model_id non-empty")
        if nlist < 1 or not 1 <= nprobe <= nlist:
            raise ValueError(f"need 1 <= nprobe <= nlist, got nlist={nlist} nprobe={nprobe}")
        if storage not in STORAGES:
            raise ValueError(f"storage must be one of {STORAGES}, got {storage!r}")
        self._dimension = dimension
        self._model_id = model_id
        self._nlist = nlist
        self._nprobe = nprobe
        self._storage = storage
        self._exact_scope_fraction = exact_scope_fraction
        self._version = 0
        self._trained_on = 0
        self._index: Any = self._new_index()
        self._ids = np.empty(0, dtype=np.int64)  # sorted: 8 bytes a chunk, where a set costs ~70

    def _new_index(self) -> Any:
        index: Any = faiss.index_factory(self._dimension, self.faiss_description, faiss.METRIC_INNER_PRODUCT)
        index.set_direct_map_type(HASHTABLE_DIRECT_MAP)
        index.cp.niter = TRAIN_ITERATIONS
        if self._storage == "SQfp16":
            # fp16 keeps vectors to ~1e-4 without residuals, and decoding then needs no centroid:
            # reconstruct (the exact search of small scopes) runs twice as fast (measured).
            index.by_residual = False
        return index

    @property
    def dimension(self) -> int:
        return self._dimension

    @property
    def model_id(self) -> str:
        return self._model_id

    @property
    def version(self) -> int:
        """The version this index was loaded or last saved as (0 when never saved)."""
        return self._version

    @property
    def faiss_description(self) -> str:
        return f"IVF{self._nlist},{self._storage}"

    @property
    def nlist(self) -> int:
        return self._nlist

    @property
    def nprobe(self) -> int:
        """Lists probed by an unscoped search (a scoped one probes more, see `scoped_nprobe`)."""
        return self._nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        if not 1 <= value <= self._nlist:
            raise ValueError(f"need 1 <= nprobe <= nlist={self._nlist}, got {value}")
        self._nprobe = int(value)

    @property
    def storage(self) -> str:
        return self._storage

    @property
    def exact_scope_fraction(self) -> float:
        """Scopes of at most this fraction of the index are searched exactly (0: only when k covers them)."""
        return self._exact_scope_fraction

    @exact_scope_fraction.setter
    def exact_scope_fraction(self, value: float) -> None:
        self._exact_scope_fraction = max(0.0, float(value))

    @property
    def trained_on(self) -> int:
        """How many vectors the index was built for when trained (0: not trained)."""
        return self._trained_on

    @property
    def is_trained(self) -> bool:
        return bool(self._index.is_trained)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"IvfVectorIndex({self.faiss_description}, nprobe={self._nprobe}, count={len(self)})"

    def train(self, sample: npt.ArrayLike, *, corpus_size: int | None = None) -> None:
        """Learn the nlist centroids (and the scalar quantiser's ranges) from a sample of vectors.

        `corpus_size` is how many vectors the index is being built for (default: the sample's
        size); it is recorded so the policy can tell when the index has outgrown its training.
        """
        vectors = as_vectors(sample, self._dimension, name="sample")
        if vectors.shape[0] < self._nlist:
            raise ValueError(f"training needs at least nlist={self._nlist} vectors, got {vectors.shape[0]}")
        if len(self):
            raise ValueError("train an empty index (rebuild to retrain)")
        self._index.train(vectors)
        self._trained_on = int(corpus_size if corpus_size is not None else vectors.shape[0])

    def add(self, ids: npt.ArrayLike, vectors: npt.ArrayLike) -> None:
        """Add (n,) ids with their (n, d) vectors; an id already present is replaced (idempotent)."""
        id_arr = as_id_array(ids)
        if id_arr.size == 0 and np.size(vectors) == 0:
            return
        vec_arr = as_vectors(vectors, self._dimension)
        if vec_arr.shape[0] != id_arr.size:
            raise ValueError(f"got {id_arr.size} ids for {vec_arr.shape[0]} vectors")
        check_unique(id_arr)
        if not self.is_trained:
            raise ValueError(f"the {self.faiss_description!r} index must be trained before add()")
        self.remove(id_arr)
        self._index.add_with_ids(vec_arr, id_arr)
        self._ids = np.union1d(self._ids, id_arr)

    def remove(self, ids: npt.ArrayLike) -> int:
        """Remove ids; missing ids are ignored. Returns how many were removed."""
        id_arr = np.unique(as_id_array(ids))
        present = id_arr[self._present_mask(id_arr)]
        if present.size == 0:
            return 0
        removed = int(self._index.remove_ids(faiss.IDSelectorArray(present)))  # the hashtable needs an array
        self._ids = np.setdiff1d(self._ids, present, assume_unique=True)
        return removed

    def _present_mask(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        if self._ids.size == 0:
            return np.zeros(ids.shape, dtype=bool)
        positions = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
        mask: npt.NDArray[np.bool_] = self._ids[positions] == ids
        return mask

    def contains(self, id_: int) -> bool:
        return bool(self._present_mask(np.array([int(id_)], dtype=np.int64))[0])

    def ids(self) -> npt.NDArray[np.int64]:
        return self._ids.copy()

    def reconstruct(self, ids: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The stored vectors of `ids` (decoded from the storage: fp16 or 8-bit for SQ), (n, d)."""
        id_arr = as_id_array(ids)
        if id_arr.size == 0:
            return np.empty((0, self._dimension), dtype=np.float32)
        if not self._present_mask(id_arr).all():
            raise ValueError("reconstruct() was given ids that are not in the index")
        return np.asarray(self._index.reconstruct_batch(id_arr), dtype=np.float32)

    def search(self, query: npt.ArrayLike, k: int, allowed_ids: npt.ArrayLike | None = None) -> SearchResult:
        """Top-k by inner product for a (d,) or (q, d) query; `allowed_ids` scopes inside the search.

        Only allowed ids can ever be returned. A scope of at most `exact_scope_fraction` of the
        index (or of no more ids than k) is searched exactly, so a principal who sees little still
        gets its best matches and, with k at least its visible count, all of them.
        """
        queries = as_vectors(query, self._dimension, name="query")
        k = check_k(k)
        if len(self) == 0:
            return empty_result(queries.shape[0], k)
        if allowed_ids is None:
            if k >= len(self):
                return self._search_exact(queries, k, self._ids)
            return self._search_ivf(queries, k, None)
        allowed = as_id_array(allowed_ids, name="allowed_ids")
        if allowed.size <= max(self._exact_scope_fraction * len(self), k):
            present = np.unique(allowed)
            return self._search_exact(queries, k, present[self._present_mask(present)])
        return self._search_ivf(queries, k, allowed)

    def _search_exact(
        self, queries: npt.NDArray[np.float32], k: int, ids: npt.NDArray[np.int64]
    ) -> SearchResult:
        """Brute force over the given (present) ids' stored vectors."""
        scores, found = empty_result(queries.shape[0], k)
        if ids.size == 0:
            return scores, found
        all_scores = queries @ self._index.reconstruct_batch(ids).T  # (q, m)
        keep = min(k, ids.size)
        top = np.argpartition(-all_scores, keep - 1, axis=1)[:, :keep]
        top_scores = np.take_along_axis(all_scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        scores[:, :keep] = np.take_along_axis(top_scores, order, axis=1)
        found[:, :keep] = ids[np.take_along_axis(top, order, axis=1)]
        return scores, found

    def _search_ivf(
        self, queries: npt.NDArray[np.float32], k: int, allowed: npt.NDArray[np.int64] | None
    ) -> SearchResult:
        """Probe the nearest lists; a scope widens the probe so as many allowed vectors are seen."""
        params = faiss.SearchParametersIVF()
        params.nprobe = self.scoped_nprobe(len(self) if allowed is None else allowed.size)
        selector = None
        if allowed is not None:
            selector = scope_selector(allowed)  # a local keeps it alive through the search
            params.sel = selector
        scores, found = self._index.search(queries, k, params=params)
        scores[found < 0] = PAD_SCORE
        return scores.astype(np.float32, copy=False), found.astype(np.int64, copy=False)

    def scoped_nprobe(self, scope_size: int) -> int:
        """nprobe for a scope of `scope_size` ids: nprobe / (scope fraction), at most nlist.

        The size is taken as given: allowed ids missing from the index would make the probe too
        narrow, but callers pass the chunks a principal may see, which are all indexed.
        """
        fraction = min(1.0, scope_size / max(len(self), 1))
        return min(self._nlist, math.ceil(self._nprobe / max(fraction, 1e-9)))

    def save(self, directory: Path, *, version: int | None = None) -> None:
        """Write the index, then its manifest (with nlist, nprobe, storage and training), atomically."""
        directory.mkdir(parents=True, exist_ok=True)
        manifest_path = directory / MANIFEST_FILE
        new_version = next_version(manifest_path) if version is None else version
        atomic_write(directory / INDEX_FILE, lambda tmp: faiss.write_index(self._index, str(tmp)))
        atomic_write_json(manifest_path, self._manifest(new_version))
        self._version = new_version

    def _manifest(self, version: int) -> dict[str, Any]:
        return {
            "kind": IVF_KIND,
            "format_version": IVF_FORMAT_VERSION,
            "model_id": self._model_id,
            "dimension": self._dimension,
            "count": len(self),
            "version": version,
            "faiss_index_type": self.faiss_description,
            "nlist": self._nlist,
            "nprobe": self._nprobe,
            "storage": self._storage,
            "is_trained": self.is_trained,
            "trained_on": self._trained_on,
            "direct_map": "hashtable",
            "faiss_version": faiss.__version__,
            "created_at": utc_now_iso(),
        }

    @classmethod
    def load(cls, directory: Path, *, model_id: str | None = None, dimension: int | None = None) -> Self:
        """Load an index saved by `save`; a model_id or dimension other than the expected one raises."""
        manifest_path = directory / MANIFEST_FILE
        manifest = read_json(manifest_path)
        expected = {"model_id": model_id, "dimension": dimension, "format_version": IVF_FORMAT_VERSION}
        check_manifest(manifest, kind=IVF_KIND, path=manifest_path, expected=expected)
        try:
            raw = faiss.read_index(str(directory / INDEX_FILE))
        except RuntimeError as exc:
            raise IndexLoadError(f"unreadable FAISS index in {directory}: {exc}") from exc
        index = cls(
            int(manifest["dimension"]),
            str(manifest["model_id"]),
            nlist=int(manifest["nlist"]),
            nprobe=int(manifest["nprobe"]),
            storage=str(manifest["storage"]),
        )
        index._adopt(raw, manifest, directory)
        return index

    def _adopt(self, raw: Any, manifest: dict[str, Any], directory: Path) -> None:
        """Take over a FAISS index read from disk after checking it matches its manifest."""
        if not isinstance(raw, faiss.IndexIVF) or raw.d != self._dimension or raw.nlist != self._nlist:
            raise IndexLoadError(f"{directory}: not an IVF{self._nlist} index of dimension {self._dimension}")
        if raw.direct_map.type != HASHTABLE_DIRECT_MAP:
            raise IndexLoadError(f"{directory}: the IVF index has no hashtable direct map")
        if raw.ntotal != manifest.get("count"):
            raise IndexLoadError(
                f"{directory}: index holds {raw.ntotal} vectors but its manifest says {manifest.get('count')}"
            )
        self._index = raw
        self._ids = stored_ids(raw)
        self._trained_on = int(manifest.get("trained_on", 0))
        self._version = int(manifest["version"])


def stored_ids(index: Any) -> npt.NDArray[np.int64]:
    """Every id held in an IVF's inverted lists, sorted."""
    invlists = index.invlists
    parts = []
    for list_no in range(index.nlist):
        size = invlists.list_size(list_no)
        if size:
            parts.append(np.array(faiss.rev_swig_ptr(invlists.get_ids(list_no), size), dtype=np.int64))
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, dtype=np.int64)
