"""Embedding throughput and retrieval quality of each embedder variant, measured in one run.

    python -m evaluation.bench.embedding --corpus corpus.jsonl --queries queries.jsonl --qrels qrels.tsv \
        [--limit N] [--rounds R] [--json OUT]

The corpus is cut into R slices and every variant embeds every slice in turn (the order rotating each
round), so load from other processes on a shared machine falls on all variants alike; the ratios to
the baseline are what to read. Quality: nDCG@10 on the queries that have qrels, exact inner-product
search over the whole (or --limit) corpus, as BEIR/pytrec_eval compute it.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.embedding import (
    BATCH_TOKENS,
    OnnxEmbedder,
    Vectors,
    packaged_model_dir,
)
from retrieval.embedding_torch import SentenceTransformerEmbedder
from retrieval.wordpiece import WordPieceTokenizer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BASELINE = "st-plain"
DEFAULT_VARIANTS = ("st-plain", "torch-token-sorted", "onnx-fp32", "onnx-int8", "onnx-int8-ffnout-fp32")
EmbedFn = Callable[[Sequence[str]], Vectors]


@dataclass
class VariantResult:
    name: str
    model_id: str
    seconds: float
    docs_per_s: float
    tokens_per_s: float
    ratio: float
    ndcg_at_10: float
    min_cosine_to_baseline: float
    mean_cosine_to_baseline: float


def read_beir(
    corpus: Path, queries: Path, qrels: Path, limit: int | None
) -> tuple[list[str], list[str], dict[str, str], dict[str, dict[str, int]]]:
    """Doc ids, doc texts (title + " " + text), query texts by id, and qrels by query id."""
    doc_ids: list[str] = []
    texts: list[str] = []
    with corpus.open() as handle:
        for line in handle:
            doc = json.loads(line)
            doc_ids.append(str(doc["_id"]))
            texts.append((doc.get("title", "") + " " + doc["text"]).strip())
            if limit is not None and len(doc_ids) >= limit:
                break
    query_texts = {str(q["_id"]): q["text"] for q in map(json.loads, queries.open())}
    judged: dict[str, dict[str, int]] = {}
    with qrels.open() as handle:
        next(handle)  # header
        for line in handle:
            query_id, doc_id, score = line.strip().split("\t")
            judged.setdefault(query_id, {})[doc_id] = int(score)
    judged = {q: rels for q, rels in judged.items() if q in query_texts}
    return doc_ids, texts, query_texts, judged


def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """trec_eval's ndcg_cut: linear gains, log2 discount, ideal from the judged relevances."""
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((rel for rel in relevant.values() if rel > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 2) for rank, rel in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def mean_ndcg(
    doc_vectors: Vectors, doc_ids: Sequence[str], query_vectors: Vectors, query_ids: Sequence[str], qrels: Any
) -> float:
    """Exact inner-product top-10 per query, then mean nDCG@10 (a doc equal to its query id is skipped)."""
    scores = query_vectors @ doc_vectors.T
    total = 0.0
    for row, query_id in enumerate(query_ids):
        top = np.argsort(-scores[row], kind="stable")[:11]
        ranked = [doc_ids[i] for i in top if doc_ids[i] != query_id][:10]
        total += ndcg_at_k(ranked, qrels[query_id])
    return total / len(query_ids)


def build_variants(names: Sequence[str], cache_dir: Path, batch_size: int) -> dict[str, tuple[str, EmbedFn]]:
    """name -> (model_id, embed function); each warmed up (model built and loaded) before timing."""
    variants: dict[str, tuple[str, EmbedFn]] = {}
    for name in names:
        started = time.perf_counter()
        if name == "st-plain":  # what a user of sentence-transformers writes: encode() the whole list
            embedder: OnnxEmbedder | SentenceTransformerEmbedder = SentenceTransformerEmbedder(
                length_sorted=False
            )
        elif name == "torch-token-sorted":
            embedder = SentenceTransformerEmbedder(length_sorted=True)
        elif name.endswith("-intraop"):  # one batch at a time, each operator split across the cores
            variant = name.removeprefix("onnx-").removesuffix("-intraop")
            embedder = OnnxEmbedder(variant=variant, cache_dir=cache_dir, parallel_batches=False)
        elif name.endswith("-count-batches"):  # batches of --batch-size texts, however long they are
            variant = name.removeprefix("onnx-").removesuffix("-count-batches")
            embedder = OnnxEmbedder(variant=variant, cache_dir=cache_dir, batch_tokens=None)
        elif name.startswith("onnx-"):
            embedder = OnnxEmbedder(variant=name.removeprefix("onnx-"), cache_dir=cache_dir)
        else:
            raise SystemExit(f"unknown variant {name}")
        embedder.warm_up()
        embedder.embed_documents(["warm up"], batch_size=batch_size)
        print(f"{name}: ready in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        variants[name] = (
            embedder.model_id,
            functools.partial(embedder.embed_documents, batch_size=batch_size),
        )
    return variants


def time_interleaved(
    variants: dict[str, tuple[str, EmbedFn]], texts: Sequence[str], rounds: int
) -> tuple[dict[str, float], dict[str, Vectors]]:
    """Seconds per variant and its document vectors, slices interleaved across variants."""
    names = list(variants)
    seconds = dict.fromkeys(names, 0.0)
    parts: dict[str, list[Vectors]] = {name: [] for name in names}
    bounds = np.linspace(0, len(texts), rounds + 1).astype(int)
    for r in range(rounds):
        piece = texts[bounds[r] : bounds[r + 1]]
        for name in names[r % len(names) :] + names[: r % len(names)]:
            started = time.perf_counter()
            parts[name].append(variants[name][1](piece))
            seconds[name] += time.perf_counter() - started
        print(
            f"round {r + 1}/{rounds}: " + ", ".join(f"{n} {seconds[n]:.0f}s" for n in names), file=sys.stderr
        )
    return seconds, {name: np.vstack(parts[name]) for name in names}


def run(args: argparse.Namespace) -> dict[str, Any]:
    doc_ids, texts, query_texts, qrels = read_beir(args.corpus, args.queries, args.qrels, args.limit)
    query_ids = sorted(qrels)
    queries = [query_texts[q] for q in query_ids]
    tokenizer = WordPieceTokenizer(packaged_model_dir() / "tokenizer.json", 256)
    tokens = sum(len(row) for row in tokenizer.encode(texts))
    variants = build_variants(args.variants, args.cache_dir, args.batch_size)
    seconds, vectors = time_interleaved(variants, texts, args.rounds)
    base = vectors[BASELINE] if BASELINE in vectors else next(iter(vectors.values()))
    base_seconds = seconds.get(BASELINE, next(iter(seconds.values())))
    results = []
    for name, (model_id, embed) in variants.items():
        query_vectors = embed(queries)
        cosines = np.sum(vectors[name] * base, axis=1)
        results.append(
            VariantResult(
                name=name,
                model_id=model_id,
                seconds=round(seconds[name], 2),
                docs_per_s=round(len(texts) / seconds[name], 2),
                tokens_per_s=round(tokens / seconds[name], 1),
                ratio=round(base_seconds / seconds[name], 3),
                ndcg_at_10=round(mean_ndcg(vectors[name], doc_ids, query_vectors, query_ids, qrels), 4),
                min_cosine_to_baseline=round(float(cosines.min()), 5),
                mean_cosine_to_baseline=round(float(cosines.mean()), 5),
            )
        )
    return {
        "docs": len(texts),
        "queries": len(query_ids),
        "tokens": tokens,
        "mean_tokens_per_doc": round(tokens / len(texts), 1),
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "onnx_batch_tokens": BATCH_TOKENS,
        "machine": machine(),
        "results": [asdict(r) for r in results],
    }


def machine() -> dict[str, Any]:
    """CPU model and core count, and the versions that matter for these numbers."""
    import onnxruntime
    import sentence_transformers
    import torch

    cpu = "unknown"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"{report['docs']} docs ({report['mean_tokens_per_doc']} tokens/doc), {report['queries']} queries")
    print("| variant | model_id | docs/s | tokens/s | ratio | nDCG@10 | min cos | mean cos |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in report["results"]:
        print(
            f"| {r['name']} | {r['model_id']} | {r['docs_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
            f"{r['ratio']:.2f} | {r['ndcg_at_10']:.4f} | {r['min_cosine_to_baseline']:.4f} | "
            f"{r['mean_cosine_to_baseline']:.4f} |"
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--qrels", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved slices of the corpus")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS))
    parser.add_argument("--cache-dir", type=Path, default=Path("var/models"), help="built ONNX files")
    parser.add_argument("--json", type=Path, default=None, help="write the report here too")
    args = parser.parse_args(argv)
    report = run(args)
    print_table(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
