"""A tenant's indexes on disk: versioned snapshots, one writer at a time, lock-free cached readers.

Layout under `<base>/<tenant>/`:

    .lock               flock'ed by writers (across processes and machines sharing a POSIX filesystem)
    .rebuild.lock       flock'ed by the one background rebuild of the vector index allowed at a time
    CURRENT             JSON pointer to the live version; replacing it is the commit point
    v0000000007/        vectors.faiss, vectors.json, bm25.npz, bm25.json of version 7

A writer loads the live version, lets the caller change it, saves both indexes into a new
version directory and then atomically replaces CURRENT. Readers never lock: they stat CURRENT
and reload only when it changed, so they see a new version on their next call. A crash before
CURRENT is replaced leaves the previous version live and readable.

The vector index is exact or approximate (IVF) by the tenant's size (`IndexPolicy`);
`rebuild_vectors` switches it, building outside the write lock so ingestion never waits minutes.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from retrieval.bm25 import Bm25Index, Bm25Params
from retrieval.index_policy import IndexPolicy, IndexSpec, build_vector_index, load_vector_index
from retrieval.persist import (
    IndexLoadError,
    as_id_array,
    atomic_write_json,
    read_json,
    remove_stale_temp_files,
    utc_now_iso,
)
from retrieval.vector_index import FaissVectorIndex, VectorIndex

POINTER_FILE = "CURRENT"
LOCK_FILE = ".lock"
REBUILD_LOCK_FILE = ".rebuild.lock"
TENANT_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
VERSION_DIR = re.compile(r"^v(\d{10})$")
LOAD_RETRIES = 3
Token = tuple[int, int, int]  # (inode, mtime_ns, size) of CURRENT


class IndexLockTimeout(TimeoutError):
    """Another writer held the tenant's index lock for longer than the timeout."""


@dataclass
class TenantIndexes:
    """One consistent version of a tenant's indexes.

    Objects returned by `TenantIndexStore.read()` are shared by every caller in the process and
    must only be searched; change indexes inside `TenantIndexStore.write()`.
    """

    version: int
    vectors: VectorIndex
    bm25: Bm25Index


@dataclass(frozen=True)
class _Cached:
    token: Token | None
    indexes: TenantIndexes


# Per-process cache of loaded versions, keyed by (pid, tenant directory): a forked child never
# reuses FAISS objects loaded by its parent.
_CACHE: dict[tuple[int, str], _Cached] = {}
_CACHE_LOCK = threading.Lock()


def version_dir_name(version: int) -> str:
    return f"v{version:010d}"


class TenantIndexStore:
    """Owns `<base>/<tenant>/`: the tenant's vector index and BM25 index, bound to one embedding model."""

    def __init__(
        self,
        base: Path,
        tenant: str,
        *,
        dimension: int,
        model_id: str,
        bm25_params: Bm25Params | None = None,
        keep_versions: int = 3,
        lock_timeout_s: float = 120.0,
        policy: IndexPolicy | None = None,
    ) -> None:
        if not TENANT_KEY.match(tenant):
            raise ValueError(f"tenant key must match {TENANT_KEY.pattern}, got {tenant!r}")
        if keep_versions < 2:
            raise ValueError("keep_versions must be >= 2 so readers can finish loading the previous version")
        self._directory = Path(base) / tenant
        self._dimension = dimension
        self._model_id = model_id
        self._bm25_params = bm25_params
        self._keep_versions = keep_versions
        self._lock_timeout_s = lock_timeout_s
        self._policy = policy or IndexPolicy()

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def policy(self) -> IndexPolicy:
        """When this tenant's vector index is exact and when approximate."""
        return self._policy

    def current_version(self) -> int:
        """The live version on disk (0 when nothing was written yet)."""
        pointer = self._directory / POINTER_FILE
        if not pointer.exists():
            return 0
        return int(read_json(pointer)["version"])

    def empty(self) -> TenantIndexes:
        """Indexes with nothing in them, as a tenant has before its first write."""
        return TenantIndexes(
            version=0,
            vectors=FaissVectorIndex(self._dimension, self._model_id),
            bm25=Bm25Index(params=self._bm25_params),
        )

    def read(self) -> TenantIndexes:
        """The live version for searching, loaded lazily and cached; a newer version is picked up here."""
        key = (os.getpid(), str(self._directory))
        token = self._pointer_token()
        cached = _CACHE.get(key)
        if cached is not None and cached.token == token:
            return cached.indexes
        with _CACHE_LOCK:  # one thread loads; the others wait for it instead of loading too
            cached = _CACHE.get(key)
            if cached is not None and cached.token == token:
                return cached.indexes
            token, indexes = self._load_live()
            indexes.bm25.warm_up()
            _CACHE[key] = _Cached(token, indexes)
            return indexes

    def _pointer_token(self) -> Token | None:
        """What changes whenever CURRENT is replaced (os.replace gives it a new inode)."""
        try:
            st = os.stat(self._directory / POINTER_FILE)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load_live(self) -> tuple[Token | None, TenantIndexes]:
        """Load the version CURRENT names, retrying if a writer pruned it between stat and load."""
        for _ in range(LOAD_RETRIES - 1):
            token = self._pointer_token()
            try:
                return self._load_pointed(token)
            except IndexLoadError:
                if token == self._pointer_token():
                    raise  # nothing moved underneath us: the version on disk is broken
        return self._load_pointed(self._pointer_token())

    def _load_pointed(self, token: Token | None) -> tuple[Token | None, TenantIndexes]:
        if token is None:
            return None, self.empty()
        return token, self._load_version(self.current_version())

    def _load_version(self, version: int) -> TenantIndexes:
        directory = self._directory / version_dir_name(version)
        vectors = load_vector_index(directory, model_id=self._model_id, dimension=self._dimension)
        bm25 = Bm25Index.load(directory, params=self._bm25_params)
        if vectors.version != version or bm25.version != version:
            raise IndexLoadError(f"{directory}: manifests disagree with version {version}")
        return TenantIndexes(version=version, vectors=vectors, bm25=bm25)

    @contextmanager
    def write(self) -> Iterator[TenantIndexes]:
        """Lock the tenant, yield a private copy of the live version to change, then commit it.

        On leaving the block normally both indexes are saved as a new version and CURRENT is
        switched to it; `.version` of the yielded object then holds the new number. If the block
        raises, nothing is written. Writers in other processes wait for the lock.
        """
        with self._exclusive_lock():
            current = self.current_version()
            indexes = self._load_version(current) if current else self.empty()
            yield indexes
            self._commit(indexes, current + 1)

    def rebuild(self, ids: npt.ArrayLike, vectors: npt.ArrayLike, texts: Sequence[str]) -> int:
        """Replace everything with these chunks in one write (e.g. from stored vectors); returns the version.

        The vector index is the kind the policy chooses for this many chunks (exact or IVF). The
        live version is not loaded, so this also migrates a tenant to a new model or dimension.
        """
        id_arr = as_id_array(ids)
        spec = self._policy.choose(id_arr.size)
        fresh = TenantIndexes(
            version=0,
            vectors=build_vector_index(
                spec, dimension=self._dimension, model_id=self._model_id, ids=id_arr, vectors=vectors
            ),
            bm25=Bm25Index(params=self._bm25_params),
        )
        fresh.bm25.add(id_arr, texts)
        with self._exclusive_lock():
            self._commit(fresh, self.current_version() + 1)
        return fresh.version

    def rebuild_vectors(self, spec: IndexSpec | None = None) -> int | None:
        """Rebuild the vector index as `spec` (default: what the policy wants for it now) in the
        background of ingestion; returns the new version, or None when there was nothing to do.

        The new index is built from the live version's own vectors WITHOUT the write lock (an IVF
        over a million chunks takes minutes; flushes must not wait that long), then, under the
        lock, brought level with whatever writers committed meanwhile (ids added since are copied
        from the live index, ids removed since are removed) and committed with the live BM25.
        Readers switch to it on their next search. One rebuild runs at a time per tenant: another
        returns None at once, since the running one's catch-up covers its changes too. A chunk id
        is taken to keep its vector (a changed chunk is a new row), so comparing ids suffices.
        """
        with self._rebuild_lock() as acquired:
            live = self._load_live_vectors() if acquired else None
            spec = spec or (self._policy.rebuild_needed(live) if live is not None else None)
            if live is None or spec is None:
                return None
            ids = live.ids()
            built = build_vector_index(
                spec,
                dimension=self._dimension,
                model_id=self._model_id,
                ids=ids,
                vectors=live.reconstruct(ids),
            )
            del live
            with self.write() as state:
                catch_up(built, state.vectors)
                state.vectors = built
            return state.version

    def _load_live_vectors(self) -> VectorIndex | None:
        """The live vector index alone (no BM25, not cached), or None before the first write."""
        for attempt in range(LOAD_RETRIES):
            version = self.current_version()
            if not version:
                return None
            try:
                return load_vector_index(
                    self._directory / version_dir_name(version),
                    model_id=self._model_id,
                    dimension=self._dimension,
                )
            except IndexLoadError:
                if attempt == LOAD_RETRIES - 1 or self.current_version() == version:
                    raise  # nothing moved underneath us: the version on disk is broken
        return None  # unreachable: the last attempt returns or raises

    @contextmanager
    def _rebuild_lock(self) -> Iterator[bool]:
        """Try to take the tenant's rebuild lock without waiting; yields whether it was taken."""
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._directory / REBUILD_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
            else:
                yield True
        finally:
            os.close(fd)

    @contextmanager
    def _exclusive_lock(self) -> Iterator[None]:
        self._directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + self._lock_timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise IndexLockTimeout(f"index lock of {self._directory} held too long") from None
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def _commit(self, indexes: TenantIndexes, version: int) -> None:
        """Save both indexes as `version`, then switch CURRENT to it (the commit point)."""
        remove_stale_temp_files(self._directory)
        target = self._directory / version_dir_name(version)
        if target.exists():  # left by a writer that crashed before its commit point
            shutil.rmtree(target)
        try:
            indexes.vectors.save(target, version=version)
            indexes.bm25.save(target, version=version)
        except BaseException:
            # a full or failing disk (OSError, retried by the caller): CURRENT still names the live
            # version, and the half-written one goes, so a retry starts from what it had
            shutil.rmtree(target, ignore_errors=True)
            raise
        atomic_write_json(
            self._directory / POINTER_FILE,
            {
                "version": version,
                "directory": target.name,
                "model_id": self._model_id,
                "dimension": self._dimension,
                "vectors": len(indexes.vectors),
                "bm25_documents": len(indexes.bm25),
                "updated_at": utc_now_iso(),
            },
        )
        indexes.version = version
        self._prune(version)

    def history_drop(self) -> int:
        """Delete every version but the live one (after a removal: the older snapshots still hold
        the removed vectors and terms). Readers still loading one of those retry on the live one.
        Returns the live version."""
        with self._exclusive_lock():
            live = self.current_version()
            self._prune(live, keep=1)
            return live

    def _prune(self, live: int, keep: int | None = None) -> None:
        """Delete old versions beyond `keep` (`keep_versions`); readers still loading one retry."""
        keep = self._keep_versions if keep is None else keep
        versions = sorted(
            int(m.group(1)) for p in self._directory.iterdir() if (m := VERSION_DIR.match(p.name))
        )
        for version in versions:
            if version <= live - keep or version > live:
                shutil.rmtree(self._directory / version_dir_name(version), ignore_errors=True)


def catch_up(built: VectorIndex, live: VectorIndex) -> None:
    """Make `built` (made from an older version) hold the ids `live` holds: add the ids live gained
    since, with their vectors read back from live, and remove the ids it lost."""
    live_ids, built_ids = live.ids(), built.ids()
    built.remove(np.setdiff1d(built_ids, live_ids))
    gained = np.setdiff1d(live_ids, built_ids)
    if gained.size:
        built.add(gained, live.reconstruct(gained))
