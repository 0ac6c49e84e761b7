"""TenantIndexStore with an index that grows: rebuild by policy, background switch, catch-up."""

from __future__ import annotations

import numpy as np

from retrieval.index_policy import FLAT, IndexPolicy
from retrieval.ivf_index import IvfVectorIndex
from retrieval.store import TenantIndexStore
from retrieval.tests.conformance import DIMENSION, MODEL_ID, doc_text, unit_vectors
from retrieval.tests.test_store import add_chunks, live_ids
from retrieval.vector_index import FaissVectorIndex

TENANT = "growing"


def make_store(base, threshold=300):
    policy = IndexPolicy(ann_threshold=threshold)
    return TenantIndexStore(base, TENANT, dimension=DIMENSION, model_id=MODEL_ID, policy=policy)


def self_hits(store, ids):
    """How many of ids are their own query's top hit in the live vector index."""
    _, found = store.read().vectors.search(unit_vectors(np.asarray(ids)), 1)
    return int((found[:, 0] == np.asarray(ids)).sum())


def test_rebuild_from_stored_vectors_builds_the_kind_the_size_calls_for(tmp_path):
    store = make_store(tmp_path)
    for n, kind in [(299, FaissVectorIndex), (300, IvfVectorIndex)]:
        ids = np.arange(1, n + 1, dtype=np.int64)
        store.rebuild(ids, unit_vectors(ids), [doc_text(i) for i in ids.tolist()])
        assert isinstance(store.read().vectors, kind) and len(store.read().vectors) == n


def test_nothing_to_rebuild_returns_none(tmp_path):
    store = make_store(tmp_path)
    assert store.rebuild_vectors() is None  # no index yet
    add_chunks(store, np.arange(1, 100))
    assert store.rebuild_vectors() is None  # under the threshold
    assert store.current_version() == 1


def test_crossing_the_threshold_switches_to_ivf_and_readers_follow(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, np.arange(1, 350))
    before = store.read()
    assert isinstance(before.vectors, FaissVectorIndex)
    assert store.rebuild_vectors() == 2
    after = store.read()
    assert isinstance(after.vectors, IvfVectorIndex) and after.vectors.trained_on == 349
    assert live_ids(store) == list(range(1, 350))
    assert self_hits(store, np.arange(1, 350)) == 349
    assert store.rebuild_vectors() is None  # it fits now


def test_writes_committed_during_the_build_are_caught_up(tmp_path, monkeypatch):
    """A flush that adds and removes chunks while the IVF is being built is not lost."""
    store = make_store(tmp_path)
    add_chunks(store, np.arange(1, 400))
    from retrieval.store import build_vector_index as real_build

    seen_while_building = {}

    def build_while_others_write(*args, **kwargs):
        built = real_build(*args, **kwargs)
        add_chunks(store, np.arange(1000, 1010))  # another worker's flush, under the write lock
        with store.write() as indexes:
            indexes.vectors.remove(np.arange(1, 11))
            indexes.bm25.remove(np.arange(1, 11))
        seen_while_building["second rebuild"] = store.rebuild_vectors()
        return built

    monkeypatch.setattr("retrieval.store.build_vector_index", build_while_others_write)
    assert store.rebuild_vectors() == 4
    assert seen_while_building["second rebuild"] is None  # one rebuild at a time
    assert isinstance(store.read().vectors, IvfVectorIndex)
    assert live_ids(store) == [*range(11, 400), *range(1000, 1010)]
    assert self_hits(store, np.arange(1000, 1010)) == 10


def test_writes_after_the_switch_add_to_the_trained_ivf(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, np.arange(1, 320))
    store.rebuild_vectors()
    add_chunks(store, np.arange(500, 520))
    vectors = store.read().vectors
    assert isinstance(vectors, IvfVectorIndex) and vectors.trained_on == 319 and len(vectors) == 339
    assert self_hits(store, np.arange(500, 520)) == 20


def test_an_ivf_that_shrank_goes_back_to_exact(tmp_path):
    store = make_store(tmp_path)
    add_chunks(store, np.arange(1, 320))
    store.rebuild_vectors()
    with store.write() as indexes:
        indexes.vectors.remove(np.arange(1, 200))
    assert store.rebuild_vectors() is not None
    assert isinstance(store.read().vectors, FaissVectorIndex) and len(store.read().vectors) == 120
    assert store.rebuild_vectors(FLAT) is not None  # an explicit kind is always built
