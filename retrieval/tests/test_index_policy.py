"""The index that grows: which kind a tenant gets, when it is rebuilt, and building/loading by kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from retrieval.index_policy import (
    FLAT,
    IndexPolicy,
    IndexSpec,
    build_vector_index,
    choose_index,
    ivf_spec,
    load_vector_index,
)
from retrieval.ivf_index import IvfVectorIndex
from retrieval.persist import IndexLoadError
from retrieval.tests.conformance import DIMENSION, MODEL_ID, unit_vectors
from retrieval.vector_index import FaissVectorIndex

POLICY = IndexPolicy(ann_threshold=400)


def build(spec, n):
    ids = np.arange(1, n + 1, dtype=np.int64)
    return build_vector_index(
        spec, dimension=DIMENSION, model_id=MODEL_ID, ids=ids, vectors=unit_vectors(ids)
    )


def test_small_tenants_are_exact_and_large_ones_approximate():
    assert choose_index(199_999, IndexPolicy(ann_threshold=200_000)) == FLAT
    assert choose_index(200_000, IndexPolicy(ann_threshold=200_000)).kind == "ivf"
    assert choose_index(10) == FLAT  # the default threshold


@pytest.mark.parametrize(
    ("n", "nlist", "nprobe"),
    [(1_000_000, 4000, 63), (200_000, 1789, 28), (100_000, 1265, 20), (1_000, 25, 1), (30, 1, 1)],
)
def test_ivf_shape_follows_the_square_root_of_the_size(n, nlist, nprobe):
    """~4 sqrt(n) lists but at least 40 training vectors each; nprobe = nlist / 64."""
    spec = ivf_spec(n)
    assert (spec.nlist, spec.nprobe, spec.storage) == (nlist, nprobe, "SQfp16")


def test_an_exact_index_is_rebuilt_once_it_reaches_the_threshold():
    assert POLICY.rebuild_needed(build(FLAT, 399)) is None
    assert POLICY.rebuild_needed(build(FLAT, 400)) == ivf_spec(400)


def test_an_ivf_is_retrained_when_grown_4x_and_dropped_when_shrunk_below_half():
    ivf = build(ivf_spec(400), 400)
    assert isinstance(ivf, IvfVectorIndex) and ivf.trained_on == 400
    assert POLICY.rebuild_needed(ivf) is None
    more = np.arange(1000, 2199, dtype=np.int64)
    ivf.add(more, unit_vectors(more))  # 1,599 vectors: not yet 4x
    assert POLICY.rebuild_needed(ivf) is None
    ivf.add([5000], unit_vectors(np.array([5000])))
    assert POLICY.rebuild_needed(ivf) == ivf_spec(1600)
    ivf.remove(np.arange(1, 5001))
    assert len(ivf) == 0 and POLICY.rebuild_needed(ivf) == FLAT


def test_building_is_deterministic_for_a_seed():
    a, b = build(ivf_spec(800), 800), build(ivf_spec(800), 800)
    queries = unit_vectors(np.arange(50), variant=2)
    for got, want in zip(a.search(queries, 5), b.search(queries, 5), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("spec", [FLAT, IndexSpec("ivf", nlist=4, nprobe=1)], ids=["flat", "ivf"])
def test_load_vector_index_reads_either_kind(spec, tmp_path):
    built = build(spec, 200)
    built.save(tmp_path)
    loaded = load_vector_index(tmp_path, model_id=MODEL_ID, dimension=DIMENSION)
    assert type(loaded) is type(built) and len(loaded) == 200
    assert isinstance(loaded, FaissVectorIndex if spec == FLAT else IvfVectorIndex)


def test_load_vector_index_refuses_other_kinds(tmp_path):
    (tmp_path / "vectors.json").write_text(json.dumps({"kind": "bm25"}))
    with pytest.raises(IndexLoadError, match="not a vector index"):
        load_vector_index(tmp_path)


def test_describe_says_what_was_chosen():
    assert FLAT.describe() == "Flat (exact)"
    assert IndexSpec("ivf", nlist=4000, nprobe=63).describe() == "IVF4000,SQfp16 nprobe=63"
