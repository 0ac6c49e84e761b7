"""IVF-specific behaviour of IvfVectorIndex: scope, recall, persistence; the shared contract is in
test_index_conformance.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.bench.synthetic import SyntheticCorpus
from retrieval.index_policy import FLAT, build_vector_index, ivf_spec, load_vector_index
from retrieval.ivf_index import IvfVectorIndex
from retrieval.persist import IndexLoadError
from retrieval.tests.conformance import DIMENSION, MODEL_ID, IvfAdapter, VectorAdapter, unit_vectors
from retrieval.vector_index import FaissVectorIndex, VectorIndex


def filled_pair(n=2000, *, nlist=16, nprobe=2, seed=0):
    """The same n vectors (random ids) in an exact index and in an IVF."""
    ids = np.random.default_rng(seed).choice(2**40, size=n, replace=False).astype(np.int64)
    vectors = unit_vectors(ids)
    exact = FaissVectorIndex(DIMENSION, MODEL_ID)
    exact.add(ids, vectors)
    ivf = IvfVectorIndex(DIMENSION, MODEL_ID, nlist=nlist, nprobe=nprobe)
    ivf.train(vectors)
    ivf.add(ids, vectors)
    return ids, exact, ivf


@pytest.fixture(scope="module")
def pair():
    """filled_pair() shared by the tests that only search."""
    return filled_pair()


def valid(found):
    return set(found[found >= 0].tolist())


def test_satisfies_the_protocol():
    assert isinstance(IvfAdapter().make(), VectorIndex)


@pytest.mark.parametrize("adapter", [VectorAdapter(), IvfAdapter()], ids=lambda a: a.name)
def test_reconstruct_gives_back_the_stored_vectors(adapter):
    index = adapter.make()
    ids = np.arange(30, dtype=np.int64) + 2**33
    index.add(ids, unit_vectors(ids))
    np.testing.assert_allclose(index.reconstruct(ids[[4, 0, 9]]), unit_vectors(ids[[4, 0, 9]]), atol=1e-3)
    assert index.reconstruct([]).shape == (0, DIMENSION)
    with pytest.raises(ValueError, match="not in the index"):
        index.reconstruct([ids[0], 5])


def test_adding_before_training_is_refused():
    index = IvfVectorIndex(DIMENSION, MODEL_ID, nlist=4, nprobe=1)
    with pytest.raises(ValueError, match="trained"):
        index.add([1], unit_vectors(np.array([1])))


def test_training_needs_enough_vectors_and_an_empty_index():
    index = IvfVectorIndex(DIMENSION, MODEL_ID, nlist=8, nprobe=1)
    with pytest.raises(ValueError, match="at least nlist"):
        index.train(unit_vectors(np.arange(5)))
    index.train(unit_vectors(np.arange(100)))
    index.add([1], unit_vectors(np.array([1])))
    with pytest.raises(ValueError, match="empty"):
        index.train(unit_vectors(np.arange(100)))


@pytest.mark.parametrize(("nlist", "nprobe", "storage"), [(0, 1, "SQfp16"), (4, 5, "SQfp16"), (4, 1, "PQ8")])
def test_bad_shapes_are_refused(nlist, nprobe, storage):
    with pytest.raises(ValueError, match=r"nprobe|storage"):
        IvfVectorIndex(DIMENSION, MODEL_ID, nlist=nlist, nprobe=nprobe, storage=storage)


@pytest.mark.parametrize("scope_size", [1, 5, 30, 200, 1000, 2000])
@pytest.mark.parametrize("k", [1, 10, 250])
def test_a_scope_is_never_exceeded_and_k_beyond_it_returns_all_of_it(pair, scope_size, k):
    """Whichever way the search goes (exact over the scope, scaled probe, full scan)."""
    ids, _, ivf = pair
    rng = np.random.default_rng(scope_size * 1000 + k)
    scope = rng.choice(ids, size=scope_size, replace=False)
    outsiders = rng.choice(2**40, size=7).astype(np.int64) + 2**41  # never in the index
    queries = unit_vectors(rng.choice(ids, size=3), variant=1)
    _, found = ivf.search(queries, k, allowed_ids=np.concatenate([scope, outsiders]))
    for row in found:
        assert valid(row) <= set(scope.tolist())
        if k >= scope_size:
            assert valid(row) == set(scope.tolist())


@pytest.mark.parametrize("scope_size", [3, 40, 250])
def test_a_small_scope_gets_its_exact_best_matches(pair, scope_size):
    """Up to nlist/nprobe of the index, the scope is searched exhaustively: the same hits as exact."""
    ids, exact, ivf = pair
    rng = np.random.default_rng(scope_size)
    scope = rng.choice(ids, size=scope_size, replace=False)
    queries = unit_vectors(rng.choice(ids, size=20), variant=1)
    _, want = exact.search(queries, 10, allowed_ids=scope)
    _, got = ivf.search(queries, 10, allowed_ids=scope)
    assert [valid(row) for row in got] == [valid(row) for row in want]


def test_scoped_nprobe_grows_with_the_inverse_of_the_scope(pair):
    _, _, ivf = pair
    assert ivf.scoped_nprobe(2000) == 2
    assert ivf.scoped_nprobe(500) == 8
    assert ivf.scoped_nprobe(10) == ivf.nlist


def test_recall_at_10_on_clustered_vectors():
    """On text-like vectors the policy's IVF finds >= 95% of the exact top 10 (a coarse guard;
    the real figures come from `python -m evaluation.bench.ann`)."""
    n = 4_000
    corpus = SyntheticCorpus.for_size(n, seed=3)
    vectors, queries = corpus.draw(n), corpus.draw(100)
    ids = np.arange(1, n + 1, dtype=np.int64)
    exact = build_vector_index(FLAT, dimension=384, model_id=MODEL_ID, ids=ids, vectors=vectors)
    ivf = build_vector_index(ivf_spec(n), dimension=384, model_id=MODEL_ID, ids=ids, vectors=vectors)
    assert isinstance(ivf, IvfVectorIndex) and (ivf.nlist, ivf.nprobe) == (100, 2)
    _, want = exact.search(queries, 10)
    _, got = ivf.search(queries, 10)
    recall = np.mean([len(valid(g) & valid(w)) / 10 for g, w in zip(got, want, strict=True)])
    assert recall >= 0.95


def test_manifest_records_the_ivf_shape_and_training(pair, tmp_path):
    _, _, ivf = pair
    ivf.save(tmp_path)
    manifest = json.loads((tmp_path / "vectors.json").read_text())
    assert manifest["kind"] == "faiss-ivf" and manifest["faiss_index_type"] == "IVF16,SQfp16"
    assert (manifest["nlist"], manifest["nprobe"], manifest["storage"]) == (16, 2, "SQfp16")
    assert manifest["is_trained"] is True and manifest["trained_on"] == 2000 and manifest["count"] == 2000
    loaded = load_vector_index(tmp_path, model_id=MODEL_ID, dimension=DIMENSION)
    assert isinstance(loaded, IvfVectorIndex) and loaded.trained_on == 2000 and loaded.nprobe == 2


def test_an_ivf_directory_is_not_mistaken_for_an_exact_index(tmp_path):
    _, _, ivf = filled_pair(n=200)
    ivf.save(tmp_path)
    with pytest.raises(IndexLoadError, match="faiss-ivf"):
        FaissVectorIndex.load(tmp_path)


def test_removal_keeps_ids_right():
    """IndexIDMap2 around an IVF answers with wrong ids after a removal; native IVF ids do not."""
    ids, _, ivf = filled_pair()
    ivf.remove(ids[::2])
    _, found = ivf.search(unit_vectors(ids[1:40:2]), 1)
    assert found[:, 0].tolist() == ids[1:40:2].tolist()
