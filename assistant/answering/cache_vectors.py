"""The question vectors of one cache scope, kept in memory per process and checked against the
database before each use: reading thousands of vectors back from the database for every question
cost 60 ms at 2,000 entries; the check is one indexed aggregate.

Entry ids only grow (no id is reused), so (count, highest id) changes with every insert or delete:
a scope whose count grew by exactly its new rows appends them, anything else reloads it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from django.db.models import Count, Max, QuerySet

from assistant.models import AnswerCacheEntry

# Scopes kept per process (a scope holds at most the tenant's TESSERA_ANSWER_CACHE_MAX_ENTRIES).
MAX_SCOPES = 64


@dataclass(frozen=True, slots=True)
class ScopeVectors:
    count: int
    highest_id: int
    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]  # row i is the vector of entry ids[i]


_lock = threading.Lock()
_scopes: OrderedDict[tuple[int, str, str], ScopeVectors] = OrderedDict()


def scope_vectors(entries: QuerySet[AnswerCacheEntry], key: tuple[int, str, str]) -> ScopeVectors:
    """The ids and vectors of ``entries`` (one scope's), from memory when still current."""
    state = entries.order_by().aggregate(count=Count("pk"), highest=Max("pk"))
    count, highest = state["count"], state["highest"] or 0
    with _lock:
        known = _scopes.get(key)
    if known is not None and (known.count, known.highest_id) == (count, highest):
        with _lock:
            _scopes.move_to_end(key)
        return known
    if known is not None and 0 < known.count < count:
        added = _load(entries.filter(pk__gt=known.highest_id))
        if known.count + added.count == count:
            current = ScopeVectors(
                count=count,
                highest_id=highest,
                ids=np.concatenate([known.ids, added.ids]),
                vectors=np.concatenate([known.vectors, added.vectors]),
            )
            return _keep(key, current)
    return _keep(key, _load(entries))


def _load(entries: QuerySet[AnswerCacheEntry]) -> ScopeVectors:
    ids, blobs = [], []
    for entry_id, blob in entries.order_by("pk").values_list("pk", "vector"):
        ids.append(entry_id)
        blobs.append(bytes(blob))
    vectors = np.frombuffer(b"".join(blobs), dtype="<f4").astype(np.float32)
    dimension = len(blobs[0]) // 4 if blobs else 0
    return ScopeVectors(
        count=len(ids),
        highest_id=ids[-1] if ids else 0,
        ids=np.array(ids, dtype=np.int64),
        vectors=vectors.reshape(len(ids), dimension),
    )


def _keep(key: tuple[int, str, str], current: ScopeVectors) -> ScopeVectors:
    with _lock:
        _scopes[key] = current
        _scopes.move_to_end(key)
        while len(_scopes) > MAX_SCOPES:
            _scopes.popitem(last=False)
    return current


def forget_scopes() -> None:
    """Drop every scope held in memory (tests)."""
    with _lock:
        _scopes.clear()
