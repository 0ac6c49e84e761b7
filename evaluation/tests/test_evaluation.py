"""Evaluation in-process: the real ingest and search on a tiny BEIR folder with known answers.

Each query shares one invented word with its relevant documents and with nothing else, so BM25
finds only them. With the fake embedder (arbitrary vectors) these tests fuse by rank, where a
first place in BM25 beats any dense ranking of six documents; standardised score fusion, the
default, is checked with the real model, whose dense ranking agrees with BM25 here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluation.beir import BeirDocument, load_beir
from evaluation.harness import (
    INGEST_SOURCES,
    EvaluationOptions,
    cache_key,
    document_upload_file,
    evaluate,
    ingest_code_sha256,
)
from evaluation.tests.beir_builders import write_folder
from ingest.models import Document

pytestmark = pytest.mark.django_db

CORPUS = [
    {"_id": "d:1/é", "title": "Zorblax findings", "text": "Field notes about zorblax crystals."},
    {"_id": "d 2", "title": "", "text": "The quindle migrates in spring."},
    {"_id": 'd"3', "text": "A note about the weather in general."},
    {"_id": "dup-a", "title": "Copy", "text": "Flumox everywhere."},
    {"_id": "dup-b", "title": "Copy", "text": "Flumox everywhere."},  # identical: one document
    {"_id": "empty", "title": "", "text": ""},  # nothing to index
    {"_id": "other", "title": "Misc", "text": "Ocelotry is judged, and not relevant."},
]
QUERIES = [
    {"_id": "q1", "text": "zorblax"},
    {"_id": "q4", "text": "zorblax crystals"},  # no qrels rows: run, not scored
    {"_id": "q2", "text": "quindle"},
    {"_id": "q3", "text": "flumox"},
    {"_id": "q5", "text": "ocelotry"},
    {"_id": "q6", "text": "vextrion"},
]
QRELS = [
    "query-id\tcorpus-id\tscore",
    "q1\td:1/é\t1",
    "q2\td 2\t2",  # graded
    'q2\td"3\t0',  # judged non-relevant
    "q3\tdup-a\t1",
    "q3\tdup-b\t1",
    "q5\tother\t0",  # judged, nothing relevant: scores 0 and counts
    "q6\tempty\t1",  # relevant but never indexed: scores 0
]


@pytest.fixture(autouse=True)
def rank_fusion(settings):
    from config.engines import reset_engines

    settings.TESSERA = {**settings.TESSERA, "SEARCH_FUSION": "rrf"}
    reset_engines()
    yield
    reset_engines()


@pytest.fixture
def dataset(tmp_path):
    folder = write_folder(tmp_path / "beir", CORPUS, QUERIES, QRELS, newline="\r\n", bom=True)
    return load_beir(folder)


def test_metrics_timings_and_counts(dataset, tmp_path):
    result = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(rerank=False))
    # q1, q2, q3 are perfect; q5 and q6 score 0: 3 / 5 on every metric.
    for metric in ("ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10"):
        assert result[metric] == pytest.approx(0.6), metric
    assert result["queries"] == 5 and result["queries_run"] == 6 and result["queries_failed"] == 0
    assert result["docs"] == 7 and result["docs_failed"] == 1 and result["chunks"] >= 5
    assert result["ingest_cached"] is False and result["ingest_seconds"] > 0
    assert 0 < result["retrieval_ms_p50"] <= result["retrieval_ms_p95"]
    assert {"embed", "dense", "sparse", "fuse"} <= set(result["stage_ms_p50"])
    assert set(result["stage_ms_p95"]) == set(result["stage_ms_p50"])
    assert result["rerank"] is False and result["k"] == 100


def test_limit_runs_only_the_first_judged_queries(dataset, tmp_path):
    result = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(limit=2))
    assert result["queries"] == result["queries_run"] == 2  # q1 and q2; q4 has no qrels
    assert result["ndcg@10"] == pytest.approx(1.0)
    assert result["rerank"] is True and result["limit"] == 2


def test_a_second_run_reuses_the_ingest(dataset, tmp_path):
    first = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(rerank=False))
    documents = Document.objects.count()
    second = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions(rerank=False))
    assert second["ingest_cached"] is True and second["ingest_seconds"] == 0.0
    assert Document.objects.count() == documents
    for key in ("ndcg@10", "recall@100", "mrr@10", "queries", "docs_failed", "chunks"):
        assert second[key] == first[key], key


def test_a_record_becomes_markdown_with_its_title_as_heading():
    titled = document_upload_file(BeirDocument("a/b", "  A\ntitle ", "Body."))
    assert titled.data == b"# A title\n\nBody.\n"
    untitled = document_upload_file(BeirDocument("a/b", "", "Body."))
    assert untitled.data == b"Body.\n"
    assert titled.name == untitled.name == "_.md"  # the corpus id is never indexed


def test_cache_key_covers_corpus_model_chunking_and_code(tmp_path):
    base = {
        "corpus_sha256": "c",
        "model_id": "m",
        "chunk_target_tokens": 200,
        "chunk_overlap_tokens": 32,
        "code_sha256": "x",
    }
    keys = {cache_key(**base)}
    for name, value in [("corpus_sha256", "c2"), ("model_id", "m2"), ("chunk_target_tokens", 100)]:
        keys.add(cache_key(**{**base, name: value}))
    keys |= {cache_key(**{**base, "chunk_overlap_tokens": 0}), cache_key(**{**base, "code_sha256": "y"})}
    assert len(keys) == 6
    assert cache_key(**base) == cache_key(**base)


def test_ingest_code_hash_changes_with_the_ingest_code(tmp_path, settings):
    repo = Path(settings.BASE_DIR)
    copy = tmp_path / "repo"
    for source in INGEST_SOURCES:
        (copy / source).parent.mkdir(parents=True, exist_ok=True)
        copy_tree = shutil.copytree if (repo / source).is_dir() else shutil.copy
        copy_tree(repo / source, copy / source)
    assert ingest_code_sha256(copy) == ingest_code_sha256(repo)
    with (copy / "ingest" / "chunking.py").open("a") as handle:
        handle.write("# changed\n")
    assert ingest_code_sha256(copy) != ingest_code_sha256(repo)


@pytest.mark.slow
@pytest.mark.usefixtures("real_embedder")
def test_with_the_real_embedder(dataset, tmp_path, settings):
    """The same known answers with the packaged model and the default score fusion."""
    from config.engines import reset_engines

    settings.TESSERA = {**settings.TESSERA, "SEARCH_FUSION": "scores"}
    reset_engines()
    result = evaluate(dataset, state_dir=tmp_path, options=EvaluationOptions())
    assert result["ndcg@10"] == pytest.approx(0.6) and result["mrr@10"] == pytest.approx(0.6)
    assert result["embedder"].endswith("onnx-int8")
