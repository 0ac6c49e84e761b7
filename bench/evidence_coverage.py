"""How often the evidence a prompt gets holds the gold answer: the ceiling of answer accuracy.

    python bench/evidence_coverage.py --data ../shared/bench/handbook_18f --budgets 120,300,500,700,900

For every question of ``DIR/answers.jsonl`` with answer phrases, the answer path's own retrieval
and evidence selection (``assistant.answering.pipeline._retrieve``, no LLM) at each evidence budget (word
pieces), and whether the passages block the LLM would read (``format_passages``) holds every
phrase (``evaluation.contract.answer_correct``, the rule of ``"match": "all"`` rows). Prints one
JSON line per budget.

It reuses the ingest ``manage.py evaluate --data DIR`` cached under TESSERA_DATA_DIR (run that
first). A benchmark, not part of the product: it calls a private function of the answer path on
purpose, to measure exactly what that path gives the LLM. It runs against whichever code is
checked out, so the same script measures the evidence of an earlier commit (run it from a copy of
that commit's tree).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def gold_answers(data: Path) -> list[tuple[str, str, list[str]]]:
    """(id, question, phrases) for every query with answer phrases."""
    queries = {}
    for line in (data / "queries.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    out = []
    for line in (data / "answers.jsonl").read_text().splitlines():
        row = json.loads(line) if line.strip() else {}
        if row.get("answers") and row["_id"] in queries:
            out.append((row["_id"], queries[row["_id"]], list(row["answers"])))
    return out


def cache_dir(data: Path) -> Path:
    """The folder of the ingest ``manage.py evaluate`` caches for ``data`` (as it computes it)."""
    from django.conf import settings

    from config.engines import get_embedder
    from evaluation.harness import STATE_FILE, cache_key, ingest_code_sha256
    from retrieval.persist import file_sha256

    key = cache_key(
        corpus_sha256=file_sha256(data / "corpus.jsonl"),
        model_id=get_embedder().model_id,
        chunk_target_tokens=settings.TESSERA["CHUNK_TARGET_TOKENS"],
        chunk_overlap_tokens=settings.TESSERA["CHUNK_OVERLAP_TOKENS"],
        code_sha256=ingest_code_sha256(Path(settings.BASE_DIR)),
    )
    folder = Path(settings.DATA_DIR) / "eval-cache" / key
    if not (folder / STATE_FILE).exists():
        sys.exit(f"No cached ingest of {data} in {folder}: run `manage.py evaluate --data {data}` first.")
    return folder


def rerun_in_cached_ingest(data: Path, script: str) -> None:
    """Run ``script`` again with this command line and ``--inner``, in the data folder and database
    of the ingest ``manage.py evaluate`` cached for ``data``, and exit with its status (Django set up)."""
    from django.conf import settings

    folder = cache_dir(data)
    env = {
        **os.environ,
        "TESSERA_DATA_DIR": str(folder),
        "TESSERA_EMBEDDER": settings.TESSERA["EMBEDDER"],
        "TESSERA_MODELS_DIR": str(settings.TESSERA["MODELS_DIR"]),
        "DATABASE_URL": f"sqlite:///{folder}/evaluate.sqlite3",
        "TESSERA_INTENT_ROUTING": "0",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    }
    command = [sys.executable, script, *sys.argv[1:], "--inner"]
    sys.exit(subprocess.run(command, env=env, check=False).returncode)  # noqa: S603


def measure(
    data: Path, budgets: list[int], sentences: int, limit: int, shape: dict[str, int]
) -> list[dict[str, Any]]:
    """One row per budget: the share of questions whose evidence holds every phrase, and its size."""
    from assistant.answering import pipeline
    from assistant.answering.compose import EvidenceBudget, format_passages
    from assistant.answering.trace import Trace
    from config.engines import get_embedder
    from evaluation.contract import answer_correct
    from evaluation.harness import STATE_FILE, IngestState, evaluation_principal
    from governance.models import Tenant

    state = IngestState.load(Path(os.environ["TESSERA_DATA_DIR"]) / STATE_FILE)
    principal = evaluation_principal(Tenant.objects.get(pk=state.tenant_id))
    questions = gold_answers(data)[: limit or None]
    count_tokens = get_embedder().count_tokens
    rows = []
    for budget in budgets:
        extra = {"sentences": sentences, **shape} if sentences else shape
        held, sizes, times = 0, [], []
        for _, question, phrases in questions:
            started = time.perf_counter()
            evidence = pipeline._retrieve(
                principal, question, Trace(), EvidenceBudget(tokens=budget, **extra)
            ).evidence
            times.append((time.perf_counter() - started) * 1000.0)
            block = format_passages(evidence)
            held += answer_correct(block, phrases)
            sizes.append(count_tokens(block))
        rows.append(
            {
                "budget_tokens": budget,
                "questions": len(questions),
                "all_phrases_held": round(held / max(len(questions), 1), 4),
                "evidence_tokens_mean": round(statistics.fmean(sizes), 1) if sizes else 0,
                "retrieve_and_select_ms_p50": round(statistics.median(times), 1) if times else 0,
            }
        )
    return rows


def naive_coverage(data: Path, limit: int) -> dict[str, Any]:
    """The same share for the naive recipe's context (``evaluation.naive``: its 4 nearest 1000-character
    chunks, as its prompt joins them): the ceiling of the baseline's accuracy, beside Tessera's."""
    from config.engines import get_embedder
    from evaluation.beir import read_corpus
    from evaluation.contract import answer_correct
    from evaluation.naive import EmbedderEmbeddings, NaiveIndex

    embedder = get_embedder()
    index = NaiveIndex.build(read_corpus(data / "corpus.jsonl"), EmbedderEmbeddings(embedder))
    questions = gold_answers(data)[: limit or None]
    held, sizes = 0, []
    for _, question, phrases in questions:
        context = "\n\n".join(chunk.text for chunk in index.search(question))
        held += answer_correct(context, phrases)
        sizes.append(embedder.count_tokens(context))
    return {
        "naive": True,
        "questions": len(questions),
        "all_phrases_held": round(held / max(len(questions), 1), 4),
        "context_tokens_mean": round(statistics.fmean(sizes), 1) if sizes else 0,
    }


def explain(data: Path, budget: int, limit: int, shape: dict[str, int]) -> None:
    """Per question whose evidence misses a phrase: where the phrase was lost. ``ranking`` (no gold
    document among the five read), ``passages`` (a gold document read, but not the passages that
    hold it), ``selection`` (the passages read hold it, the budget left it out)."""
    from assistant.answering import pipeline
    from assistant.answering.compose import EvidenceBudget, format_passages
    from assistant.answering.trace import Trace
    from evaluation.contract import answer_correct
    from evaluation.harness import STATE_FILE, IngestState, evaluation_principal
    from governance.models import Tenant

    state = IngestState.load(Path(os.environ["TESSERA_DATA_DIR"]) / STATE_FILE)
    principal = evaluation_principal(Tenant.objects.get(pk=state.tenant_id))
    corpus = {}
    for line in (data / "corpus.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            corpus[row["_id"]] = row["text"]
    gold: dict[str, set[str]] = {}
    for line in (data / "qrels.tsv").read_text().splitlines()[1:]:
        qid, cid, _ = line.split("\t")
        gold.setdefault(qid, set()).add(cid)
    lost: dict[str, int] = {}
    questions = gold_answers(data)[: limit or None]
    for qid, question, phrases in questions:
        budget_ = EvidenceBudget(tokens=budget, **shape)
        found = pipeline._retrieve(principal, question, Trace(), budget_)
        results, evidence = found.results, found.evidence
        block = format_passages(evidence)
        if answer_correct(block, phrases):
            continue
        read = results.documents[: budget_.passages]
        read_ids = {cid for d in read for cid in state.documents.get(d.document_id, [])}
        candidates = " ".join(p.text for d in read for p in d.passages[: budget_.per_document])
        for phrase in phrases:
            if answer_correct(block, [phrase]):
                continue
            if answer_correct(candidates, [phrase]):
                where = "selection"
            elif read_ids & gold.get(qid, set()) and any(
                answer_correct(corpus[c], [phrase]) for c in read_ids & gold.get(qid, set())
            ):
                where = "passages"
            else:
                where = "ranking"
            lost[where] = lost.get(where, 0) + 1
            print(json.dumps({"id": qid, "phrase": phrase, "lost_at": where, "question": question}))
    print(json.dumps({"budget_tokens": budget, "questions": len(questions), "phrases_lost": lost}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--budgets", default="120,300,500,700,900", help="evidence budgets, word pieces")
    parser.add_argument("--sentences", type=int, default=0, help="units at most (0: the budget's default)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--documents", type=int, default=0, help="documents read (0: the default)")
    parser.add_argument("--per-document", type=int, default=0, help="passages of each (0: the default)")
    parser.add_argument("--explain", action="store_true", help="where each missed phrase is lost")
    parser.add_argument("--naive", action="store_true", help="also the naive recipe's context")
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data = args.data.resolve()
    sys.path.insert(0, str(BASE_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    if not args.inner:  # again, in the cached ingest's data folder and database
        rerun_in_cached_ingest(args.data, __file__)
    budgets = [int(b) for b in args.budgets.split(",")]
    shape = {k: v for k, v in (("passages", args.documents), ("per_document", args.per_document)) if v}
    if args.explain:
        for budget in budgets:
            explain(args.data, budget, args.limit, shape)
        return
    for row in measure(args.data, budgets, args.sentences, args.limit, shape):
        print(json.dumps(row), flush=True)
    if args.naive:
        print(json.dumps(naive_coverage(args.data, args.limit)), flush=True)


if __name__ == "__main__":
    main()
