"""Smoke test of the index benchmark on tiny data, so the command keeps working."""

from __future__ import annotations

import json

from evaluation.bench.index import bench_bm25, bench_faiss


def test_faiss_bench_reports_latencies():
    result = bench_faiss(500, queries=5)
    assert result["vectors"] == 500
    assert {"unscoped", "scope_10pct_dense_ids", "scope_10pct_sparse_ids"} <= result.keys()
    assert result["unscoped"]["p95_ms"] >= result["unscoped"]["p50_ms"] > 0


def test_bm25_bench_scores_a_tiny_beir_folder(tmp_path):
    docs = [
        {"_id": "1", "title": "Cats", "text": "cats purr"},
        {"_id": "2", "title": "Dogs", "text": "dogs bark"},
    ]
    (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "why do dogs bark"}) + "\n")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\t2\t1\n")
    result = bench_bm25(tmp_path)
    assert result["documents"] == 2 and result["queries"] == 1 and result["ndcg@10"] == 1.0
