"""The index that grows: where exact search gets too slow, and the IVF that takes over, on a synthetic tenant.

    python -m evaluation.bench.ann --chunks 1000000 [--queries 1000] [--json OUT] [--storage SQfp16]

Vectors come from `evaluation.bench.synthetic` (a topic mixture fitted to real MiniLM embeddings;
random unit vectors would make every approximate index look bad and resemble no text). It reports:

- `exact_sweep`: exact (Flat) single-query latency at growing sizes, and the largest size whose p95
  stays within --goal-ms: the threshold where a tenant should switch to the IVF;
- `ivf`: build (train + add) seconds, memory per chunk (index file bytes, and the resident memory
  that loading it adds), then single-query p50/p95 and recall@10 against exact search within the
  same scope, for the whole index and for scopes of 10% and 0.1% of the ids;
- `nprobe_sweep`: recall@10 and latency around the chosen nprobe;
- `scope_crossover`: a scope searched exactly over its own vectors vs in the IVF (nprobe scaled by
  the scope's fraction), by scope size: where the exact fallback stops paying;
- `hnsw` (with --hnsw-sample N): HNSW32's build time and quality on N vectors, for comparison.

Searches run on one FAISS thread (what the web process uses); builds use --build-threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from evaluation.bench.index import percentiles_ms
from evaluation.bench.synthetic import SyntheticCorpus, corpus_stats
from retrieval.index_policy import IndexPolicy, IndexSpec, ivf_spec, load_vector_index, trained_ivf
from retrieval.ivf_index import IvfVectorIndex
from retrieval.vector_index import FaissVectorIndex

K = 10
MODEL_ID = "bench"
Ids = npt.NDArray[np.int64]
Matrix = npt.NDArray[np.float32]


def rss_bytes() -> int:
    """This process's resident memory (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it, with the core count."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} x {os.cpu_count()}"
    return platform.machine()


def latencies(
    search: Callable[[Matrix], tuple[Matrix, Ids]], queries: Matrix
) -> tuple[dict[str, float], Ids]:
    """p50/p95 of one query at a time on one FAISS thread (as the web process runs), and the ids."""
    samples, found = [], []
    with faiss_threads(1):
        for row in range(queries.shape[0]):
            started = time.perf_counter()
            _, ids = search(queries[row])
            samples.append(time.perf_counter() - started)
            found.append(ids[0])
    return percentiles_ms(samples), np.stack(found)


@contextmanager
def faiss_threads(n: int) -> Iterator[None]:
    """Run the block with n FAISS (OpenMP) threads."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(n)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def exact_top_k(vectors: Matrix, ids: Ids, queries: Matrix, k: int = K) -> Ids:
    """Ground truth: exact top-k ids over `vectors` (batched, on every core)."""
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    with faiss_threads(os.cpu_count() or 1):
        _, rows = flat.search(queries, k)
    truth: Ids = np.where(rows >= 0, ids[np.maximum(rows, 0)], -1)
    return truth


def recall_at_k(found: Ids, truth: Ids) -> float:
    """Mean share of the exact top-k that the search returned."""
    hits = [
        len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / max((t >= 0).sum(), 1)
        for f, t in zip(found, truth, strict=True)
    ]
    return round(float(np.mean(hits)), 4)


def exact_sweep(vectors: Matrix, queries: Matrix, sizes: list[int], goal_ms: float) -> dict[str, Any]:
    """Exact single-query latency by size; the threshold is the largest size within the goal."""
    rows: list[dict[str, Any]] = []
    for size in sizes:
        index = FaissVectorIndex(vectors.shape[1], MODEL_ID)
        index.add(np.arange(1, size + 1, dtype=np.int64), vectors[:size])
        timing, _ = latencies(partial(index.search, k=K), queries)
        rows.append({"chunks": size, **timing})
        if size == sizes[-1]:
            with tempfile.TemporaryDirectory() as workdir:
                index.save(Path(workdir))
                rows[-1].update(memory_per_chunk(Path(workdir), size))
        del index
    within = [r["chunks"] for r in rows if r["p95_ms"] <= goal_ms]
    return {"goal_p95_ms": goal_ms, "sizes": rows, "largest_within_goal": max(within, default=0)}


def build_ivf(
    spec: IndexSpec, ids: Ids, vectors: Matrix, workdir: Path
) -> tuple[IvfVectorIndex, dict[str, Any]]:
    """Train, add, save and load the IVF, timing each step; memory is measured on the saved index."""
    report: dict[str, Any] = {"spec": spec.describe(), "chunks": ids.size}
    started = time.perf_counter()
    index = trained_ivf(spec, dimension=vectors.shape[1], model_id=MODEL_ID, vectors=vectors)
    report["train_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    index.add(ids, vectors)
    report["add_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    index.save(workdir)
    report["save_s"] = round(time.perf_counter() - started, 1)
    report.update(memory_per_chunk(workdir, ids.size))
    started = time.perf_counter()
    loaded = IvfVectorIndex.load(workdir, model_id=MODEL_ID)
    report["load_s"] = round(time.perf_counter() - started, 1)
    return loaded, report


def memory_per_chunk(directory: Path, n: int) -> dict[str, int]:
    """Index file bytes per chunk, and what loading the index adds to a fresh process's RSS.

    A fresh process, because in this one freed training buffers would be reused and hide the cost.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        rss_delta = pool.submit(loaded_rss_delta, directory).result()
    size = (directory / "vectors.faiss").stat().st_size
    return {"file_bytes_per_chunk": round(size / n), "loaded_rss_bytes_per_chunk": round(rss_delta / n)}


def loaded_rss_delta(directory: Path) -> int:
    """RSS added by loading the vector index in `directory` (run in a fresh process)."""
    before = rss_bytes()
    index = load_vector_index(directory)
    grown = rss_bytes() - before
    del index
    return grown


def scopes(ids: Ids, rng: np.random.Generator) -> dict[str, Ids | None]:
    """The scopes measured: none (no selector), every id, 10% and 0.1% of the ids."""
    return {
        "unscoped": None,
        "scope_100pct": ids,
        "scope_10pct": np.sort(rng.choice(ids, size=max(1, ids.size // 10), replace=False)),
        "scope_0.1pct": np.sort(rng.choice(ids, size=max(1, ids.size // 1000), replace=False)),
    }


def scoped_truth(vectors: Matrix, ids: Ids, queries: Matrix, scope: Ids | None) -> Ids:
    """Exact top-k within a scope (ids are 1..n, so row = id - 1)."""
    if scope is None:
        return exact_top_k(vectors, ids, queries)
    return exact_top_k(np.ascontiguousarray(vectors[scope - 1]), scope, queries)


def search_report(
    index: IvfVectorIndex, vectors: Matrix, ids: Ids, queries: Matrix, seed: int
) -> dict[str, Any]:
    """Latency and recall@10 against exact search for each scope."""
    out: dict[str, Any] = {}
    for name, scope in scopes(ids, np.random.default_rng(seed)).items():
        truth = scoped_truth(vectors, ids, queries, scope)
        timing, found = latencies(partial(index.search, k=K, allowed_ids=scope), queries)
        out[name] = {
            **timing,
            "recall@10": recall_at_k(found, truth),
            "scope_ids": ids.size if scope is None else scope.size,
        }
    return out


def nprobe_sweep(
    index: IvfVectorIndex, queries: Matrix, truth: Ids, factors: list[float]
) -> list[dict[str, Any]]:
    """Recall and latency of unscoped searches with nprobe scaled by each factor."""
    rows, chosen = [], index.nprobe
    for factor in factors:
        index.nprobe = max(1, min(index.nlist, round(chosen * factor)))
        timing, found = latencies(partial(index.search, k=K), queries)
        rows.append({"nprobe": index.nprobe, **timing, "recall@10": recall_at_k(found, truth)})
    index.nprobe = chosen
    return rows


def scope_crossover(
    index: IvfVectorIndex, vectors: Matrix, ids: Ids, queries: Matrix, sizes: list[int]
) -> list[dict[str, Any]]:
    """Each scope size searched both ways: exactly over its vectors, and in the IVF with a selector."""
    rows, rng, saved = [], np.random.default_rng(7), index.exact_scope_fraction
    for size in [s for s in sizes if s < ids.size]:
        scope = np.sort(rng.choice(ids, size=size, replace=False))
        truth = scoped_truth(vectors, ids, queries, scope)
        row: dict[str, Any] = {"scope_ids": size, "ivf_nprobe": index.scoped_nprobe(size)}
        for way, limit in (("exact", 1.0), ("ivf", 0.0)):
            index.exact_scope_fraction = limit
            timing, found = latencies(partial(index.search, k=K, allowed_ids=scope), queries)
            row[way] = {**timing, "recall@10": recall_at_k(found, truth)}
        rows.append(row)
    index.exact_scope_fraction = saved
    return rows


def hnsw_report(vectors: Matrix, queries: Matrix, n: int, build_threads: int) -> dict[str, Any]:
    """HNSW32 (efConstruction 40) on the first n vectors: build time, recall and latency at efSearch 64."""
    index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    started = time.perf_counter()
    with faiss_threads(build_threads):
        index.add(vectors[:n])
    build_s = time.perf_counter() - started
    truth = exact_top_k(vectors[:n], np.arange(n, dtype=np.int64), queries)
    index.hnsw.efSearch = 64
    timing, found = latencies(lambda q: index.search(q.reshape(1, -1), K), queries)
    return {
        "chunks": n,
        "build_s": round(build_s, 1),
        "efSearch": 64,
        **timing,
        "recall@10": recall_at_k(found, truth),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of the module docstring, in one report."""
    faiss.omp_set_num_threads(args.build_threads)
    corpus = SyntheticCorpus.for_size(args.chunks, seed=args.seed)
    vectors, queries = corpus.draw(args.chunks), corpus.draw(args.queries)
    ids = np.arange(1, args.chunks + 1, dtype=np.int64)
    report: dict[str, Any] = {
        "cpu": cpu_model(),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "faiss": faiss.__version__,
    }
    report["data"] = {"chunks": args.chunks, "queries": args.queries, **corpus_stats(vectors[:640])}
    sweep_sizes = [s for s in args.exact_sizes if s <= args.chunks]
    report["exact_sweep"] = exact_sweep(vectors, queries[: args.sweep_queries], sweep_sizes, args.goal_ms)
    spec = ivf_spec(args.chunks, storage=args.storage)
    if args.nlist:
        spec = IndexSpec("ivf", nlist=args.nlist, nprobe=args.nprobe or spec.nprobe, storage=args.storage)
    with tempfile.TemporaryDirectory(dir=args.workdir) as workdir:
        index, report["ivf"] = build_ivf(spec, ids, vectors, Path(workdir))
    report["ivf"]["search"] = search_report(index, vectors, ids, queries, args.seed)
    truth = exact_top_k(vectors, ids, queries[: args.sweep_queries])
    report["nprobe_sweep"] = nprobe_sweep(index, queries[: args.sweep_queries], truth, [0.25, 0.5, 1, 2, 4])
    report["scope_crossover"] = scope_crossover(
        index, vectors, ids, queries[: args.sweep_queries], args.scope_sizes
    )
    if args.hnsw_sample:
        report["hnsw"] = hnsw_report(
            vectors, queries[: args.sweep_queries], min(args.hnsw_sample, args.chunks), args.build_threads
        )
    report["policy_default"] = {
        "ann_threshold": IndexPolicy().ann_threshold,
        "for_these_chunks": IndexPolicy().choose(args.chunks).describe(),
    }
    return report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chunks", type=int, default=100_000, help="vectors in the synthetic tenant")
    parser.add_argument(
        "--queries", type=int, default=1000, help="queries for the scope latencies and recall"
    )
    parser.add_argument("--sweep-queries", type=int, default=200, help="queries for the sweeps")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--storage", default="SQfp16", choices=["Flat", "SQfp16", "SQ8"])
    parser.add_argument("--nlist", type=int, default=0, help="override the policy's nlist")
    parser.add_argument("--nprobe", type=int, default=0, help="override the policy's nprobe (with --nlist)")
    parser.add_argument("--goal-ms", type=float, default=20.0, help="exact search's p95 goal (the threshold)")
    parser.add_argument(
        "--exact-sizes", type=int, nargs="*", default=[25_000, 50_000, 100_000, 150_000, 200_000, 400_000]
    )
    parser.add_argument("--scope-sizes", type=int, nargs="*", default=[200, 1_000, 2_500, 5_000, 20_000])
    parser.add_argument("--hnsw-sample", type=int, default=0, help="also build HNSW32 on this many vectors")
    parser.add_argument(
        "--build-threads", type=int, default=0, help="FAISS threads for building (0: all cores)"
    )
    parser.add_argument("--workdir", type=Path, default=None, help="where the index is saved and loaded")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.build_threads = args.build_threads or faiss.omp_get_max_threads()
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    text = json.dumps(report, indent=2)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
