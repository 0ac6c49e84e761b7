"""Evaluate the intent router on a CLINC150-format file (``manage.py evaluate_intent`` is the interface).

The router is trained on ``train`` (+ ``oos_train``), its out-of-scope threshold is chosen on
``val`` + ``oos_val`` only, and ``test`` + ``oos_test`` are routed once, one message at a time as
the chat service routes them, for the metrics and the latencies.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from retrieval.embedding import Embedder
from retrieval.intent import IntentRouter, LabelledTexts
from retrieval.intent_model import TrainingConfig
from retrieval.intent_validation import OUT_OF_SCOPE, intent_metrics
from retrieval.metrics import percentile

SPLITS = ("train", "val", "test", "oos_train", "oos_val", "oos_test")
CLINC_OOS_LABEL = "oos"


class IntentDataError(ValueError):
    """The file is not in CLINC150's format."""


@dataclass(frozen=True)
class IntentDataset:
    """CLINC150's splits, with the out-of-scope label renamed to the router's."""

    train: LabelledTexts
    validation: LabelledTexts
    test: LabelledTexts


def load_clinc(path: Path, *, oos_label: str = CLINC_OOS_LABEL) -> IntentDataset:
    """Read a CLINC150-format JSON file: each split a list of ``[text, label]``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise IntentDataError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise IntentDataError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IntentDataError(f"{path} must hold a JSON object with the keys {', '.join(SPLITS)}")
    missing = [split for split in SPLITS if split not in data]
    if missing:
        raise IntentDataError(f"{path} lacks the split(s) {', '.join(missing)}")
    pairs = {split: _pairs(data[split], split, oos_label) for split in SPLITS}

    def joined(in_scope: str, oos: str) -> LabelledTexts:
        rows = pairs[in_scope] + pairs[oos]
        return LabelledTexts(tuple(t for t, _ in rows), tuple(label for _, label in rows))

    dataset = IntentDataset(
        joined("train", "oos_train"), joined("val", "oos_val"), joined("test", "oos_test")
    )
    if len(set(dataset.train.labels)) < 2:
        raise IntentDataError(f"{path}: training needs at least two labels")
    return dataset


def _pairs(rows: Any, split: str, oos_label: str) -> list[tuple[str, str]]:
    if not isinstance(rows, list):
        raise IntentDataError(f"split {split!r} must be a list of [text, label]")
    out = []
    for i, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == 2 and all(isinstance(v, str) for v in row)):
            raise IntentDataError(f"split {split!r}, item {i}: expected [text, label], got {row!r}")
        text, label = row
        out.append((text, OUT_OF_SCOPE if label == oos_label else label))
    return out


def evaluate_intent(
    dataset: IntentDataset,
    embedder: Embedder,
    *,
    config: TrainingConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train, choose the threshold on validation, route every test message singly; the report."""
    say = progress or (lambda _: None)
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    embedder.embed_query("warm up")  # loads the model: not part of training or of a route
    load_seconds = time.perf_counter() - started
    say(f"training on {len(dataset.train.texts)} examples ...")
    started, cpu_started = time.perf_counter(), time.process_time()
    router = IntentRouter.fit(embedder, dataset.train, dataset.validation, config=config)
    train_seconds = time.perf_counter() - started
    # CPU time of every thread of this process: what training costs whatever else shares the cores
    train_cpu_seconds = time.process_time() - cpu_started
    say(f"routing {len(dataset.test.texts)} test messages one at a time ...")
    predicted, latencies = [], []
    for text in dataset.test.texts:
        started = time.perf_counter()
        predicted.append(router.route(text).label)
        latencies.append((time.perf_counter() - started) * 1000)
    test = intent_metrics(dataset.test.labels, predicted)
    timings = router.info["timings"]
    return {
        **{name: _rounded(value) for name, value in test.items()},
        "train_seconds": round(train_seconds, 2),
        "train_cpu_seconds": round(train_cpu_seconds, 2),
        "route_ms_p50": _rounded(percentile(latencies, 50), 2),
        "route_ms_p95": _rounded(percentile(latencies, 95), 2),
        "embed_train_seconds": round(timings["embed_train_seconds"], 2),
        "embed_validation_seconds": round(timings["embed_validation_seconds"], 2),
        "fit_seconds": round(timings["fit_seconds"], 2),
        "model_load_seconds": round(load_seconds, 2),
        "threshold": _rounded(router.threshold),
        "threshold_score": "energy (log-sum-exp of the logits)",
        "oos_share": router.info["oos_share"],
        "validation": {name: _rounded(value) for name, value in router.info["validation"].items()},
        "intents": len(router.labels),
        "train_examples": len(dataset.train.texts),
        "validation_examples": len(dataset.validation.texts),
        "test_examples": len(dataset.test.texts),
        "model_id": router.model_id,
        "config": asdict(config or TrainingConfig()),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_1m": round(load_average, 2),
    }


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
