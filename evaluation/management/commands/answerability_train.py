"""Train the answerability check from data the project builds itself, and store it.

    python manage.py answerability_train [--questions 700] [--out FILE]
    python manage.py answerability_train --features FEATURES.jsonl [--out FILE]
    python manage.py answerability_train --score FEATURES.jsonl [--out FILE]
    python manage.py answerability_train --write-questions N

Builds the corpus and pseudo-questions (``evaluation.answerability_data``: standard-library
docstrings, the Python language reference and this repository's prose, never a benchmark), adds the
questions written in people's words that ship in ``evaluation/data/answerability_questions.jsonl`` (on
other paragraphs of the same corpus), runs ``evaluate --answerability`` on them (the real ingest
and search in a child process, each question with its paragraph present and removed), fits the
model (a logistic regression, ``retrieval.answerability_fit``) on the
pseudo-questions: on 70% of them, choosing the threshold on the other 30% (at most 3% false
abstentions; the relevance bar at most 1%), and writes the model file with its abstentions on the
written questions beside (``written_abstain_*``: a check in people's words, fitted on nothing).
``--features`` fits on the features of an earlier run instead (they are kept in the data
directory's ``answerability-train/features.jsonl``). ``--write-questions N`` has the local LLM write
those questions (``evaluation.answerability_questions``), once, at development time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from assistant.answering.llm.local import LocalModelUnavailable, load_llama, local_model_file
from config.engines import get_embedder
from evaluation.answerability_data import (
    PseudoQuestion,
    corpus_paragraphs,
    dataset_build,
    pseudo_question_paragraphs,
)
from evaluation.answerability_questions import (
    QUESTIONS_FILE,
    WRITTEN_PREFIX,
    load_questions,
    save_questions,
    written_questions,
)
from retrieval.answerability import MODEL_FILE, AnswerabilityModel
from retrieval.answerability_fit import model_fit

WORK_FOLDER = "answerability-train"
VALIDATION_SHARE = 3  # in tenths, by a hash of the question id
LLM_THREADS = 2


class Command(BaseCommand):
    help = "Build the answerability check's training data, fit it, and write its model file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--questions",
            type=int,
            default=700,
            help="pseudo-questions to build (at most one per paragraph)",
        )
        parser.add_argument("--out", type=Path, default=MODEL_FILE, help="the model file to write")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument(
            "--features",
            type=Path,
            help="fit on this file of `evaluate --answerability --features` instead of building the data "
            "and running the evaluation (the training data's own features, kept from an earlier run)",
        )
        parser.add_argument(
            "--write-questions",
            type=int,
            metavar="N",
            help="train nothing: have the local LLM write N questions in people's words on paragraphs the "
            "pseudo-questions do not use, and store them in evaluation/data/answerability_questions.jsonl "
            "(development time: about 5 s a paragraph on 2 cores, 2 in 5 kept)",
        )
        parser.add_argument(
            "--score",
            type=Path,
            help="train nothing: the abstention shares of the model in --out on a file written by "
            "`evaluate --answerability --features`",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["score"]:
            self.stdout.write(json.dumps(_score(Path(options["score"]), Path(options["out"]))))
            return
        if options["write_questions"] is not None:
            self._write_questions(options)
            return
        if options["questions"] < 20:
            raise CommandError("--questions must be at least 20.")
        counts, rows = _training_rows(options)
        if not rows:
            raise CommandError("The evaluation produced no cases to train on.")
        x = np.array([r["features"] for r in rows], dtype=np.float64)
        y = np.array([1 if r["gold_present"] else 0 for r in rows])
        # The written questions are a second check of the model, never fitted on nor chosen by: they
        # proved as hard as the pseudo-questions, not closer to XQuAD (docs/benchmarks.md, answerability).
        written = np.array([str(r["_id"]).startswith(WRITTEN_PREFIX) for r in rows])
        held = np.array([_validation(r["_id"]) for r in rows])
        model, figures = model_fit(x[~written], y[~written], held[~written])
        meta = {
            **counts,
            **figures,
            **_written_figures(model, x[written], y[written]),
            "data": "standard-library docstrings, the Python language reference and this repository's prose "
            "(evaluation.answerability_data)",
            "seed": options["seed"],
            "python": platform.python_version(),
            "embedder": get_embedder().model_id,
        }
        model = dataclasses.replace(model, meta=meta)
        Path(options["out"]).parent.mkdir(parents=True, exist_ok=True)
        model.save(Path(options["out"]))
        self.stdout.write(json.dumps({"model": str(options["out"]), **meta, "threshold": model.threshold}))

    def _write_questions(self, options: dict[str, Any]) -> None:
        wanted = options["write_questions"]
        if wanted < 1:
            raise CommandError("--write-questions must be at least 1.")
        paragraphs = corpus_paragraphs(Path(settings.BASE_DIR), seed=options["seed"])
        used = pseudo_question_paragraphs(paragraphs, questions=options["questions"], seed=options["seed"])
        free = [p for p in reversed(paragraphs) if p.id not in used]
        name = settings.TESSERA["LLM_MODEL"]
        try:
            model_file = local_model_file(name, Path(settings.TESSERA["MODELS_DIR"]))
            llama, lock = load_llama(model_file, n_ctx=2048, n_threads=LLM_THREADS)
        except LocalModelUnavailable as exc:
            raise CommandError(f"--write-questions needs the local LLM (TESSERA_LLM_MODEL): {exc}") from exc

        def complete(system: str, user: str, seed: int, temperature: float) -> str:
            with lock:
                reply = llama.create_chat_completion(
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    max_tokens=48,
                    temperature=temperature,
                    seed=seed,
                )
            return str(reply["choices"][0]["message"]["content"] or "")

        def progress(tried: int, made: int) -> None:
            if tried % 20 == 0:
                self.stderr.write(f"{tried} paragraphs tried, {made} questions kept")

        made = list(written_questions(free, complete, wanted=wanted, model=name, progress=progress))
        save_questions(made)
        self.stdout.write(json.dumps({"questions": len(made), "file": str(QUESTIONS_FILE), "model": name}))


def _written_figures(model: AnswerabilityModel, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The model's abstentions on the questions written in people's words (none: nothing)."""
    if not len(y) or y.all() or not y.any():
        return {}
    abstain = model.probability(x) < model.threshold
    return {
        "written_cases": len(y),
        "written_abstain_answerable": round(float(abstain[y == 1].mean()), 4),
        "written_abstain_unanswerable": round(float(abstain[y == 0].mean()), 4),
    }


def _training_rows(options: dict[str, Any]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """The counts of the data built and each case's features (building and evaluating the data,
    unless ``--features`` names a file of an earlier run)."""
    work = Path(settings.DATA_DIR) / WORK_FOLDER
    features = Path(options["features"]) if options["features"] else work / "features.jsonl"
    counts: dict[str, int] = {}
    if not options["features"]:
        written = [
            PseudoQuestion(q.id, q.text, q.answer, q.paragraph_id) for q in load_questions(QUESTIONS_FILE)
        ]
        counts = dataset_build(
            work / "data",
            base_dir=Path(settings.BASE_DIR),
            questions=options["questions"],
            seed=options["seed"],
            written=written,
        )
        call_command(
            "evaluate", data=str(work / "data"), answerability=True, features=str(features),
            verbosity=options["verbosity"],
        )  # fmt: skip
    try:
        return counts, [json.loads(line) for line in features.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot read the features in {features}: {exc}") from exc


def _score(features: Path, model_file: Path) -> dict[str, Any]:
    """What ``evaluate --answerability`` reports, from its features file and a model file."""
    try:
        model = AnswerabilityModel.load(model_file)
        rows = [json.loads(line) for line in features.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise CommandError(f"Cannot score {features} with {model_file}: {exc}") from exc
    abstained: dict[bool, list[bool]] = {True: [], False: []}
    for row in rows:
        abstained[bool(row["gold_present"])].append(model.verdict(row["features"]).abstain)
    share = {k: round(sum(v) / len(v), 4) if v else None for k, v in abstained.items()}
    return {
        "abstain_gold_present": share[True],
        "abstain_gold_removed": share[False],
        "cases": len(rows),
        "threshold": model.threshold,
    }


def _validation(question_id: str) -> bool:
    return int(hashlib.sha256(question_id.encode()).hexdigest(), 16) % 10 < VALIDATION_SHARE
