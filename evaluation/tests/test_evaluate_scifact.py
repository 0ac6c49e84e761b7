"""A smoke evaluation on real data: a slice of BEIR SciFact through the real ingest and search.

The slice keeps the first 30 judged queries, every document they judge and the first 300 others
as distractors, so it embeds in about half a minute with the packaged model. The floors are far
below what the full benchmark gives (see docs/benchmarks.md); the test catches a retrieval path
that is broken (a lost scope, a wrong id mapping, a fusion bug), not a change of a point.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluation.beir import load_beir
from evaluation.harness import EvaluationOptions, evaluate
from evaluation.tests.beir_builders import write_folder

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CANDIDATES: list[str | Path] = [
    os.environ.get("TESSERA_BENCH_DIR", ""),
    REPO.parent / "shared" / "bench",
    "/work/shared/bench",
]


def _scifact() -> Path:
    for candidate in CANDIDATES:
        if candidate and (Path(candidate) / "scifact" / "qrels.tsv").is_file():
            return Path(candidate) / "scifact"
    pytest.skip("the SciFact benchmark folder is not on this machine (set TESSERA_BENCH_DIR)")


@pytest.mark.usefixtures("real_embedder")
def test_scifact_slice(tmp_path):
    full = load_beir(_scifact())
    queries = full.judged_queries(30)
    judged = {doc for q in queries for doc in full.qrels[q.id]}
    others = [d for d in full.corpus if d.id not in judged][:300]
    corpus = [d for d in full.corpus if d.id in judged] + others
    folder = write_folder(
        tmp_path / "slice",
        [{"_id": d.id, "title": d.title, "text": d.text} for d in corpus],
        [{"_id": q.id, "text": q.text} for q in queries],
        ["query-id\tcorpus-id\tscore"]
        + [f"{q.id}\t{doc}\t{rel}" for q in queries for doc, rel in full.qrels[q.id].items()],
    )
    (tmp_path / "state").mkdir()
    result = evaluate(load_beir(folder), state_dir=tmp_path / "state", options=EvaluationOptions())
    assert result["queries"] == 30 and result["docs"] == len(corpus)
    assert result["ndcg@10"] >= 0.70, result
    assert result["recall@100"] >= 0.95, result
    assert result["retrieval_ms_p95"] < 1000, result
