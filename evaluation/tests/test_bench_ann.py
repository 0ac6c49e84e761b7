"""Smoke test of the index-growth benchmark on a tiny tenant, so the command keeps working."""

from __future__ import annotations

import json

from evaluation.bench.ann import main


def test_bench_ann_reports_build_memory_latency_and_recall(tmp_path, capsys):
    out = tmp_path / "ann.json"
    main(
        [
            *("--chunks", "3000", "--queries", "20", "--sweep-queries", "10", "--json", str(out)),
            *("--exact-sizes", "1000", "3000", "--scope-sizes", "50", "--workdir", str(tmp_path)),
        ]
    )
    report = json.loads(out.read_text())
    assert json.loads(capsys.readouterr().out) == report
    assert report["exact_sweep"]["largest_within_goal"] == 3000
    ivf = report["ivf"]
    assert ivf["spec"].startswith("IVF75,SQfp16") and ivf["file_bytes_per_chunk"] > 768
    assert set(ivf["search"]) == {"unscoped", "scope_100pct", "scope_10pct", "scope_0.1pct"}
    assert all(row["recall@10"] >= 0.8 for row in ivf["search"].values())
    assert [row["nprobe"] for row in report["nprobe_sweep"]] == [1, 1, 2, 4, 8]
    assert report["scope_crossover"][0]["exact"]["recall@10"] == 1.0
