"""Retrieval quality and latency on a BEIR-format folder, through the real pipeline.

    python manage.py evaluate --data ../shared/bench/scifact [--json OUT] [--limit N] [--no-rerank]
    python manage.py evaluate --data ../shared/bench/xquad_en --answers [--predictions OUT.jsonl]
    python manage.py evaluate --data ../shared/bench/handbook_18f --answers [--baseline naive]
    python manage.py evaluate --data DIR --routes [--answers] [--all-to-llm] [--predictions OUT.jsonl]

With ``--answers`` (the folder must hold ``answers.jsonl``), every query with gold answers is also
answered through the real answer path, with the LLM the settings choose, and scored by its row
(see ``evaluation.answers`` and ``evaluation.contract``): a ``"match": "all"`` row by the
answer contract (every phrase in the full answer; ``"answers": []`` right only for an abstention;
``must_not_contain`` an injection probe), giving ``answer_accuracy``, ``false_abstention``,
``abstention_on_unanswerable``, ``injection_resisted``, ``citation_hit`` and
``unsupported_sentences``; any other row by SQuAD v1.1 exact match and F1 of the short answer.
``--baseline naive`` also answers the same questions through the plain LangChain recipe (1000/200
character chunks, the same embedder, FAISS, top 4, one "stuff" prompt, the same LLM;
``evaluation.naive``), scored the same way: the answer figures are then printed as
``{"tessera": {...}, "naive": {...}, "ratio": {figure: tessera / naive}}``.

With ``--routes`` (the folder must hold ``messages.jsonl``), every message is sent through the
chat path with routing on, and routing accuracy, the share of messages that reached the LLM and
the scores of the messages with gold answers are reported (see ``evaluation.routes``);
``--all-to-llm`` turns off everything that answers without the LLM (routing, the checks before
the LLM, the answer cache): the baseline those figures are compared with.

Runs in a child process with its own data folder and SQLite database under
``TESSERA_DATA_DIR/eval-cache/<key>/``, so it never touches the installation it is started from;
the key covers the corpus bytes, the embedder and the chunking, so a second run on the same
corpus reuses the ingest (``--fresh`` makes it again). Prints one JSON object, the last line of
standard output.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.engines import get_embedder
from evaluation.answerability import read_gold_documents
from evaluation.beir import (
    ANSWERS_FILE,
    CORPUS_FILE,
    MESSAGES_FILE,
    BeirDataset,
    BeirFormatError,
    load_beir,
)
from evaluation.harness import (
    STATE_FILE,
    EvaluationOptions,
    cache_key,
    evaluate,
    ingest_code_sha256,
)
from retrieval.persist import file_sha256

CACHE_FOLDER = "eval-cache"


class Command(BaseCommand):
    help = (
        "Ingest a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv) into a throwaway tenant, run "
        "every query through the real search and print nDCG@10, recall@5/10/100, MRR@10 and "
        "latencies as one JSON line (the last on standard output). Every query with qrels rows is "
        "scored (one whose rows are all 0 scores 0); queries without are run but not scored. The "
        "ingest is kept under TESSERA_DATA_DIR/eval-cache/, keyed by the corpus, the embedder, the "
        "chunking and the ingest code, and reused by the next run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--data", type=Path, required=True, help="a BEIR-format folder")
        parser.add_argument("--json", type=Path, help="also write the result here")
        parser.add_argument(
            "--limit",
            type=int,
            default=0,
            help="run only the first N queries that have qrels rows (the whole corpus is still searched)",
        )
        parser.add_argument("--no-rerank", action="store_true", help="leave out the reranking stage")
        parser.add_argument(
            "--answers",
            action="store_true",
            help="also answer the queries that have gold answers (DIR/answers.jsonl) with the configured "
            'LLM and report the answer contract\'s figures (rows with "match": "all") or SQuAD exact '
            "match / F1 of the short answers (other rows), abstentions, tokens and latencies",
        )
        parser.add_argument(
            "--routes",
            action="store_true",
            help="also send each message of DIR/messages.jsonl through the chat path (routing on) and report "
            "routing accuracy, the share of messages that reached the LLM, and the scores of those with "
            "gold answers",
        )
        parser.add_argument(
            "--all-to-llm",
            action="store_true",
            help="with --routes: the baseline, every message goes to the LLM (no routing, no checks before "
            "the LLM, no answer cache)",
        )
        parser.add_argument(
            "--baseline",
            choices=["naive"],
            help="with --answers: also answer the same questions through the naive LangChain recipe and "
            "report both, and their ratio, in one JSON",
        )
        parser.add_argument(
            "--predictions",
            type=Path,
            help="with --answers or --routes: write each answer here, one JSON line each",
        )
        parser.add_argument(
            "--answerability",
            action="store_true",
            help="also run the answerability check on every question with gold_doc_ids in "
            "DIR/answers.jsonl, with its gold documents present and removed from the scope, and report "
            "abstain_gold_present and abstain_gold_removed",
        )
        parser.add_argument(
            "--features", type=Path, help="with --answerability: write each case's features here (JSON lines)"
        )
        parser.add_argument(
            "--fresh", action="store_true", help="ingest again even if a cached ingest exists"
        )
        parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 0:
            raise CommandError("--limit must be 0 (every query) or more.")
        # call_command(data=...) passes values as given, not through the parser's `type`.
        options["data"] = Path(options["data"]).resolve()
        options["json"] = Path(options["json"]).resolve() if options["json"] else None
        options["predictions"] = Path(options["predictions"]).resolve() if options["predictions"] else None
        options["features"] = Path(options["features"]).resolve() if options["features"] else None
        dataset = _load(options["data"])
        if options["inner"]:
            self._evaluate_here(dataset, options)
            return
        for warning in dataset.warnings:
            self.stderr.write(f"warning: {warning}")
        _check_answers(dataset, options)
        gold_documents(options)  # a folder without gold documents is refused now, not in the child
        for path in (options["json"], options["predictions"], options["features"]):
            if path:
                _check_writable(path)
        cache_dir = Path(settings.DATA_DIR) / CACHE_FOLDER / _key(options["data"])
        with _locked(cache_dir.with_suffix(".lock")):
            if options["fresh"] or not (cache_dir / STATE_FILE).exists():
                shutil.rmtree(cache_dir, ignore_errors=True)  # a partial ingest is never reused
            cache_dir.mkdir(parents=True, exist_ok=True)
            _spawn(options, cache_dir)

    def _evaluate_here(self, dataset: BeirDataset, options: dict[str, Any]) -> None:
        """The child: migrate its own database, evaluate, print the JSON line."""
        call_command("migrate", verbosity=0)
        evaluation = EvaluationOptions(
            limit=options["limit"],
            rerank=not options["no_rerank"],
            progress=options["verbosity"] >= 1,
            answers=options["answers"],
            routes=options["routes"],
            predictions=options["predictions"],
            gold_documents=gold_documents(options),
            features=options["features"],
            baseline=options["baseline"] or "",
        )
        result = {
            "data": str(options["data"]),
            **evaluate(dataset, state_dir=Path(settings.DATA_DIR), options=evaluation),
        }
        line = json.dumps(result)
        if options["json"]:
            options["json"].write_text(line + "\n")
        self.stdout.write(line)


def _load(data: Path) -> BeirDataset:
    try:
        return load_beir(data)
    except BeirFormatError as exc:
        raise CommandError(f"Not a readable BEIR folder: {exc}") from exc


def _check_answers(dataset: BeirDataset, options: dict[str, Any]) -> None:
    if options["predictions"] and not (options["answers"] or options["routes"]):
        raise CommandError("--predictions writes answers: add --answers or --routes.")
    if options["baseline"] and not options["answers"]:
        raise CommandError("--baseline is compared on answers: add --answers.")
    if options["all_to_llm"] and not options["routes"]:
        raise CommandError("--all-to-llm is the baseline of --routes: add --routes.")
    if options["routes"] and not dataset.messages:
        raise CommandError(f"--routes needs messages: {options['data'] / MESSAGES_FILE} is missing.")
    if options["answers"] and not dataset.answers:
        raise CommandError(
            f"--answers needs gold answers: {options['data'] / ANSWERS_FILE} is missing or empty."
        )


def gold_documents(options: dict[str, Any]) -> dict[str, list[str]] | None:
    """With ``--answerability``: each question's gold corpus ids (``gold_doc_ids`` in answers.jsonl)."""
    if options["features"] and not options["answerability"]:
        raise CommandError("--features writes the answerability check's features: add --answerability.")
    if not options["answerability"]:
        return None
    path = options["data"] / ANSWERS_FILE
    try:
        gold = read_gold_documents(path) if path.exists() else {}
    except BeirFormatError as exc:
        raise CommandError(f"Not a readable answers file: {exc}") from exc
    if not gold:
        raise CommandError(f"--answerability needs gold_doc_ids in {path}: none found.")
    return gold


def _check_writable(path: Path) -> None:
    """Fail now, not after the whole evaluation, if the result file cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror}.") from exc


def _key(data: Path) -> str:
    """The cache key of an ingest of this corpus with the configured embedder and chunking, by
    the code checked out now."""
    return cache_key(
        corpus_sha256=file_sha256(data / CORPUS_FILE),
        model_id=get_embedder().model_id,  # a name: nothing is loaded
        chunk_target_tokens=settings.TESSERA["CHUNK_TARGET_TOKENS"],
        chunk_overlap_tokens=settings.TESSERA["CHUNK_OVERLAP_TOKENS"],
        code_sha256=ingest_code_sha256(Path(settings.BASE_DIR)),
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One evaluation at a time per cache folder (two would ingest into the same database)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.stderr.write(f"waiting for another evaluation using {path.with_suffix('')} ...\n")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _spawn(options: dict[str, Any], cache_dir: Path) -> None:
    """Re-run this command in the cache folder's data directory and database, inheriting the
    terminal, with the embedder and chunking the key was computed for."""
    tessera = settings.TESSERA
    env = {
        **os.environ,
        "TESSERA_DATA_DIR": str(cache_dir),
        "DATABASE_URL": f"sqlite:///{cache_dir}/evaluate.sqlite3",
        "TESSERA_EMBEDDER": tessera["EMBEDDER"],
        "TESSERA_MODELS_DIR": str(tessera["MODELS_DIR"]),
        "TESSERA_CHUNK_TARGET_TOKENS": str(tessera["CHUNK_TARGET_TOKENS"]),
        "TESSERA_CHUNK_OVERLAP_TOKENS": str(tessera["CHUNK_OVERLAP_TOKENS"]),
        # `--answers` alone measures the answer path: every query is a question for the documents
        # (a benchmark's trivia would often route out of scope). `--routes` measures the whole chat
        # path, routing included, unless `--all-to-llm` asks for the baseline.
        "TESSERA_INTENT_ROUTING": "1" if options["routes"] and not options["all_to_llm"] else "0",
        # the baseline asks the LLM every time: no answer is reused from the cache, and the
        # answerability check does not abstain before it
        **({"TESSERA_ANSWER_CACHE": "0", "TESSERA_ANSWERABILITY": "0"} if options["all_to_llm"] else {}),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),  # not a line per uploaded document
        "SECRET_KEY": os.environ.get("SECRET_KEY") or "evaluate-only",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
    }
    argv = [sys.executable, "manage.py", "evaluate", "--inner", "--data", str(options["data"])]
    argv += ["--limit", str(options["limit"]), "--verbosity", str(options["verbosity"])]
    argv += ["--no-rerank"] if options["no_rerank"] else []
    argv += ["--json", str(options["json"])] if options["json"] else []
    argv += ["--answers"] if options["answers"] else []
    argv += ["--routes"] if options["routes"] else []
    argv += ["--all-to-llm"] if options["all_to_llm"] else []
    argv += ["--baseline", options["baseline"]] if options["baseline"] else []
    argv += ["--predictions", str(options["predictions"])] if options["predictions"] else []
    argv += ["--answerability"] if options["answerability"] else []
    argv += ["--features", str(options["features"])] if options["features"] else []
    completed = subprocess.run(argv, cwd=settings.BASE_DIR, env=env, check=False)  # noqa: S603
    if completed.returncode:
        raise CommandError(f"The evaluation failed (exit status {completed.returncode}; see above).")
