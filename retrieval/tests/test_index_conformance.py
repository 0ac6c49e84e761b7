"""The contract every index implementation keeps (vector and BM25 alike); see conformance.py."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.persist import IndexLoadError
from retrieval.tests.conformance import ADAPTERS

BIG = 2**40  # ids beyond int32 must survive every operation


@pytest.fixture(params=ADAPTERS, ids=lambda a: a.name)
def adapter(request):
    return request.param


@pytest.fixture
def filled(adapter):
    """An index holding ids BIG+0 .. BIG+49."""
    index = adapter.make()
    ids = np.arange(50, dtype=np.int64) + BIG
    index.add(ids, adapter.payload(ids))
    return index, ids


def test_add_counts_and_contains(adapter, filled):
    index, ids = filled
    assert len(index) == 50
    assert all(index.contains(int(i)) for i in ids)
    assert not index.contains(7)
    assert sorted(index.ids().tolist()) == ids.tolist()


def test_exact_top1_is_the_item_itself(adapter, filled):
    index, ids = filled
    for id_ in ids.tolist():
        scores, found = index.search(adapter.query_for(id_), 1)
        assert found.shape == (1, 1) and found.dtype == np.int64 and scores.dtype == np.float32
        assert found[0, 0] == id_


def test_k_larger_than_count_pads_with_minus_one(adapter, filled):
    index, ids = filled
    scores, found = index.search(adapter.query_for(int(ids[0])), 80)
    assert found.shape == (1, 80)
    assert sorted(found[0, :50].tolist()) == ids.tolist()
    assert (found[0, 50:] == -1).all() and np.isneginf(scores[0, 50:]).all()
    assert np.isfinite(scores[0, :50]).all() and (np.diff(scores[0, :50]) <= 0).all()


def test_empty_index_returns_only_minus_one(adapter):
    scores, found = adapter.make().search(adapter.query_for(1), 5)
    assert (found == -1).all() and np.isneginf(scores).all()


def test_removed_ids_are_never_returned(adapter, filled):
    index, ids = filled
    gone = ids[::3]
    assert index.remove(np.concatenate([gone, [123, 456]])) == gone.size  # missing ids are fine
    assert index.remove(gone) == 0
    assert len(index) == 50 - gone.size
    for id_ in gone.tolist():
        assert not index.contains(id_)
        _, found = index.search(adapter.query_for(id_), 100)
        assert id_ not in found


def test_adding_a_present_id_replaces_it(adapter, filled):
    index, ids = filled
    index.add(ids[:5], adapter.payload(ids[:5], variant=1))
    assert len(index) == 50
    for id_ in ids[:5].tolist():
        _, found = index.search(adapter.query_for(id_, variant=1), 1)
        assert found[0, 0] == id_
        _, found = index.search(adapter.query_for(id_, variant=0), 100)
        assert (found[0] == id_).sum() <= 1  # the old content is gone, not duplicated


def test_duplicate_ids_within_one_add_are_refused(adapter):
    index = adapter.make()
    ids = np.array([1, 1], dtype=np.int64)
    with pytest.raises(ValueError, match="unique"):
        index.add(ids, adapter.payload(ids))


@pytest.mark.parametrize("bad_ids", [[-1], [1.5], [[1]]])
def test_bad_ids_are_refused(adapter, bad_ids):
    index = adapter.make()
    with pytest.raises(ValueError, match="ids"):
        index.add(bad_ids, adapter.payload(np.array([1])))


def test_count_mismatch_is_refused(adapter):
    with pytest.raises(ValueError, match="ids"):
        adapter.make().add(np.array([1, 2]), adapter.payload(np.array([1])))
    with pytest.raises(ValueError, match="ids"):
        adapter.make().add(np.array([], dtype=np.int64), adapter.payload(np.array([1])))


def test_adding_nothing_is_a_no_op(adapter, filled):
    index, _ = filled
    index.add(np.array([], dtype=np.int64), adapter.payload(np.array([], dtype=np.int64)))
    assert len(index) == 50


@pytest.mark.parametrize("k", [0, -3])
def test_k_must_be_positive(adapter, filled, k):
    index, ids = filled
    with pytest.raises(ValueError, match="k"):
        index.search(adapter.query_for(int(ids[0])), k)


def test_save_load_round_trip_gives_identical_results(adapter, filled, tmp_path):
    index, ids = filled
    index.save(tmp_path)
    loaded = adapter.load(tmp_path)
    assert len(loaded) == len(index) and loaded.version == index.version == 1
    for id_ in ids[::7].tolist():
        query = adapter.query_for(id_)
        for got, want in zip(loaded.search(query, 20), index.search(query, 20), strict=True):
            np.testing.assert_array_equal(got, want)


def test_save_increments_version(adapter, filled, tmp_path):
    index, _ = filled
    index.save(tmp_path)
    index.save(tmp_path)
    assert adapter.load(tmp_path).version == 2
    index.save(tmp_path, version=10)
    assert adapter.load(tmp_path).version == 10


def test_load_of_missing_directory_is_a_clear_error(adapter, tmp_path):
    with pytest.raises(IndexLoadError, match="no manifest"):
        adapter.load(tmp_path / "nowhere")


def test_crash_before_replace_leaves_old_index_readable(adapter, filled, tmp_path, monkeypatch):
    index, ids = filled
    index.save(tmp_path)
    before = index.search(adapter.query_for(int(ids[1])), 10)
    index.remove(ids[:25])

    def crash(src, dst):
        raise OSError("simulated crash between temp write and replace")

    monkeypatch.setattr("retrieval.persist.os.replace", crash)
    with pytest.raises(OSError, match="simulated"):
        index.save(tmp_path)
    monkeypatch.undo()
    loaded = adapter.load(tmp_path)
    assert len(loaded) == 50 and loaded.version == 1
    for got, want in zip(loaded.search(adapter.query_for(int(ids[1])), 10), before, strict=True):
        np.testing.assert_array_equal(got, want)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("seed", range(5))
def test_scope_is_applied_inside_the_search(adapter, seed):
    """For random allowed subsets every hit is allowed, and a large k yields exactly the subset."""
    rng = np.random.default_rng(seed)
    index = adapter.make()
    ids = rng.choice(2**62, size=300, replace=False).astype(np.int64)
    index.add(ids, adapter.payload(ids))
    allowed = rng.choice(ids, size=int(rng.integers(1, 40)), replace=False)
    outsiders = rng.choice(2**62, size=5).astype(np.int64)  # ids the index never held
    query = adapter.query_for(int(rng.choice(ids)))
    scores, found = index.search(query, 5, allowed_ids=np.concatenate([allowed, outsiders]))
    assert set(found[0][found[0] >= 0].tolist()) <= set(allowed.tolist())
    scores, found = index.search(query, allowed.size + 10, allowed_ids=allowed)
    assert sorted(found[0, : allowed.size].tolist()) == sorted(allowed.tolist())
    assert (found[0, allowed.size :] == -1).all() and np.isneginf(scores[0, allowed.size :]).all()


def test_scope_top_hit_matches_unscoped_when_allowed(adapter, filled):
    index, ids = filled
    target = int(ids[10])
    _, found = index.search(adapter.query_for(target), 3, allowed_ids=ids[5:15])
    assert found[0, 0] == target


def test_empty_scope_returns_only_minus_one(adapter, filled):
    index, ids = filled
    scores, found = index.search(adapter.query_for(int(ids[0])), 5, allowed_ids=np.array([], dtype=np.int64))
    assert (found == -1).all() and np.isneginf(scores).all()
