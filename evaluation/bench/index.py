"""Index benchmarks: FAISS exact search latency (with and without scope) and BM25 on a BEIR folder.

    python -m evaluation.bench.index --beir /path/to/scifact [--threads 1]

Prints one JSON object. BM25 quality is nDCG@10 over the queries that have qrels (qrels.tsv with
a header), computed with no tuning on those queries.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from retrieval.bm25 import Bm25Index
from retrieval.vector_index import FaissVectorIndex

DIMENSION = 384


def percentiles_ms(samples: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(np.asarray(samples) * 1000, [50, 95])
    return {"p50_ms": round(float(p50), 3), "p95_ms": round(float(p95), 3)}


def timed(calls: list[Callable[[], object]]) -> dict[str, float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return percentiles_ms(samples)


def unit_rows(rng: np.random.Generator, n: int) -> npt.NDArray[np.float32]:
    rows = rng.standard_normal((n, DIMENSION)).astype(np.float32)
    normalised: npt.NDArray[np.float32] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return normalised


def bench_faiss(n: int, *, queries: int = 200, k: int = 10, seed: int = 0) -> dict[str, Any]:
    """Single-query exact search over n random unit vectors: whole index, then 10% scopes."""
    rng = np.random.default_rng(seed)
    index = FaissVectorIndex(DIMENSION, "bench")
    dense_ids = np.arange(1, n + 1, dtype=np.int64)
    index.add(dense_ids, unit_rows(rng, n))
    qs = unit_rows(rng, queries)
    scope = rng.choice(dense_ids, size=n // 10, replace=False)
    result: dict[str, Any] = {"vectors": n, "k": k, "queries": queries}
    result["unscoped"] = timed([partial(index.search, q, k) for q in qs])
    result["scope_10pct_dense_ids"] = timed([partial(index.search, q, k, scope) for q in qs])
    sparse = FaissVectorIndex(DIMENSION, "bench")
    sparse_ids = rng.choice(2**40, size=n, replace=False).astype(np.int64)
    sparse.add(sparse_ids, unit_rows(rng, n))
    sparse_scope = rng.choice(sparse_ids, size=n // 10, replace=False)
    result["scope_10pct_sparse_ids"] = timed([partial(sparse.search, q, k, sparse_scope) for q in qs])
    return result


def read_beir(folder: Path) -> tuple[list[int], list[str], dict[str, str], dict[str, dict[int, int]]]:
    ids, texts = [], []
    with (folder / "corpus.jsonl").open() as lines:
        for line in lines:
            doc = json.loads(line)
            ids.append(int(doc["_id"]))
            texts.append(f"{doc.get('title', '')} {doc['text']}")
    with (folder / "queries.jsonl").open() as lines:
        queries = {q["_id"]: q["text"] for q in map(json.loads, lines)}
    qrels: dict[str, dict[int, int]] = {}
    with (folder / "qrels" if (folder / "qrels").is_dir() else folder).joinpath("qrels.tsv").open() as lines:
        next(lines)  # header
        for line in lines:
            query_id, doc_id, score = line.rstrip("\n").split("\t")
            qrels.setdefault(query_id, {})[int(doc_id)] = int(score)
    return ids, texts, queries, qrels


def ndcg_at_10(ranked: list[int], relevant: dict[int, int]) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:10]))
    ideal = sorted(relevant.values(), reverse=True)[:10]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def bench_bm25(folder: Path) -> dict[str, Any]:
    """Build time, query latency and nDCG@10 of BM25 (k1 0.9, b 0.4, stems + stopwords)."""
    ids, texts, queries, qrels = read_beir(folder)
    start = time.perf_counter()
    index = Bm25Index()
    index.add(np.asarray(ids, dtype=np.int64), texts)
    index.search("warm up the weights", 1)  # weights are computed on the first search
    build_s = time.perf_counter() - start
    scored, samples = [], []
    for query_id, relevant in qrels.items():
        start = time.perf_counter()
        _, found = index.search(queries[query_id], 10)
        samples.append(time.perf_counter() - start)
        scored.append(ndcg_at_10([d for d in found[0].tolist() if d >= 0], relevant))
    return {
        "documents": len(ids),
        "build_s": round(build_s, 2),
        "queries": len(scored),
        "query": percentiles_ms(samples),
        "ndcg@10": round(float(np.mean(scored)), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--beir", type=Path, help="BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[5_000, 100_000])
    parser.add_argument("--threads", type=int, default=1, help="FAISS OpenMP threads (0: library default)")
    args = parser.parse_args()
    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    report: dict[str, Any] = {"faiss_threads": faiss.omp_get_max_threads()}
    report["faiss_exact"] = [bench_faiss(n) for n in args.sizes]
    if args.beir:
        report["bm25"] = bench_bm25(args.beir)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
