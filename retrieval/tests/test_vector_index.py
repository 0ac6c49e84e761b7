"""FAISS-specific behaviour of FaissVectorIndex; the shared contract is in test_index_conformance.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.persist import IndexMismatchError
from retrieval.tests.conformance import DIMENSION, MODEL_ID, unit_vectors
from retrieval.vector_index import FaissVectorIndex, VectorIndex


@pytest.fixture
def index():
    index = FaissVectorIndex(DIMENSION, MODEL_ID)
    ids = np.arange(1, 101, dtype=np.int64)
    index.add(ids, unit_vectors(ids))
    return index


def test_satisfies_the_protocol(index):
    assert isinstance(index, VectorIndex)
    assert index.dimension == DIMENSION and index.model_id == MODEL_ID


def test_top1_score_is_cosine_one(index):
    scores, found = index.search(unit_vectors(np.array([42])), 1)
    assert found[0, 0] == 42
    assert scores[0, 0] == pytest.approx(1.0, abs=1e-5)


def test_batch_queries_give_one_row_each(index):
    ids = np.array([3, 30, 99])
    scores, found = index.search(unit_vectors(ids), 4)
    assert scores.shape == found.shape == (3, 4)
    assert found[:, 0].tolist() == ids.tolist()


@pytest.mark.parametrize("shape", [(5, DIMENSION + 1), (5,), (2, 3, DIMENSION)])
def test_wrong_dimension_on_add_raises(shape):
    index = FaissVectorIndex(DIMENSION, MODEL_ID)
    with pytest.raises(ValueError, match="shape"):
        index.add(np.arange(5), np.zeros(shape, dtype=np.float32))


def test_wrong_dimension_on_search_raises(index):
    with pytest.raises(ValueError, match="shape"):
        index.search(np.zeros(DIMENSION - 1, dtype=np.float32), 3)


def test_float64_and_non_contiguous_input_is_converted(index):
    fresh = FaissVectorIndex(DIMENSION, MODEL_ID)
    ids = np.arange(1, 101, dtype=np.int32)  # narrower ids are widened too
    vectors64 = np.asfortranarray(unit_vectors(ids).astype(np.float64))
    fresh.add(ids, vectors64)
    query = unit_vectors(np.array([7, 8]))[:, ::-1][:, ::-1]  # a strided view
    for got, want in zip(fresh.search(query.astype(np.float64), 5), index.search(query, 5), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_vectors_are_refused(bad):
    vectors = unit_vectors(np.array([1]))
    vectors[0, 3] = bad
    with pytest.raises(ValueError, match="NaN"):
        FaissVectorIndex(DIMENSION, MODEL_ID).add(np.array([1]), vectors)


def test_non_numeric_vectors_are_refused():
    with pytest.raises(ValueError, match="real numbers"):
        FaissVectorIndex(DIMENSION, MODEL_ID).add(np.array([1]), np.array([["x"] * DIMENSION]))


def test_manifest_records_model_dimension_count_version(index, tmp_path):
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "vectors.json").read_text())
    assert manifest["model_id"] == MODEL_ID and manifest["dimension"] == DIMENSION
    assert manifest["count"] == 100 and manifest["version"] == 1
    assert manifest["faiss_index_type"] == "IDMap2,Flat" and manifest["kind"] == "faiss-vector"
    assert manifest["created_at"].endswith("+00:00")
    assert not list(tmp_path.glob("*.pkl"))


@pytest.mark.parametrize(("model_id", "dimension"), [("other-model", DIMENSION), (MODEL_ID, DIMENSION * 2)])
def test_load_with_other_model_or_dimension_raises(index, tmp_path, model_id, dimension):
    index.save(tmp_path)
    with pytest.raises(IndexMismatchError, match="rebuild"):
        FaissVectorIndex.load(tmp_path, model_id=model_id, dimension=dimension)


def test_load_detects_an_index_that_disagrees_with_its_manifest(index, tmp_path):
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "vectors.json").read_text())
    manifest["count"] = 3
    (tmp_path / "vectors.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="manifest says 3"):
        FaissVectorIndex.load(tmp_path)


def test_constructor_checks_its_configuration():
    with pytest.raises(ValueError, match="dimension"):
        FaissVectorIndex(0, MODEL_ID)
    with pytest.raises(ValueError, match="model_id"):
        FaissVectorIndex(DIMENSION, "")


@pytest.mark.parametrize(
    ("offset", "span"),
    [(0, 2_000), (2**40, 2_000), (0, 2**62)],
    ids=["dense-ids-bitmap", "offset-ids-batch", "sparse-ids-batch"],
)
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
def test_scoped_search_equals_brute_force_over_the_allowed_set(offset, span, fraction):
    rng = np.random.default_rng(7)
    ids = offset + rng.choice(span, size=1_000, replace=False).astype(np.int64)
    vectors = unit_vectors(ids)
    index = FaissVectorIndex(DIMENSION, MODEL_ID)
    index.add(ids, vectors)
    allowed = rng.choice(ids, size=int(fraction * ids.size), replace=False)
    query = unit_vectors(np.array([123456789]))[0]
    mask = np.isin(ids, allowed)
    want = ids[mask][np.argsort(-(vectors[mask] @ query), kind="stable")][:20]
    _, found = index.search(query, 20, allowed_ids=allowed)
    assert found[0, : want.size].tolist() == want.tolist()
