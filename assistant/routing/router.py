"""Tessera's default intent router: trained from the examples Tessera ships, stored versioned, loaded
once per process.

The examples (``assistant/routing/examples/default.jsonl``, written for Tessera, never taken from a
benchmark) route a message to ``question``, ``search``, ``smalltalk``, ``out_of_scope`` or
``abuse``. A router file is named by a version key over the examples' bytes, the embedder's
model id, the training configuration and the file format, under ``TESSERA["MODELS_DIR"]/intent/``:
the first use trains it (seconds), later uses and other processes load it, and changing any of the
inputs trains a new version beside the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict
from pathlib import Path

from django.conf import settings

from config.engines import get_embedder
from retrieval.embedding import Embedder
from retrieval.intent import DEFAULT_ROUTES, FORMAT_VERSION, IntentModelError, IntentRouter, LabelledTexts
from retrieval.intent_model import TrainingConfig

logger = logging.getLogger(__name__)

DEFAULT_EXAMPLES = Path(__file__).resolve().parent / "examples" / "default.jsonl"
ROUTER_FOLDER = "intent"
# The model type measured on CLINC150 (docs/benchmarks.md); the threshold comes from 5-fold
# out-of-fold scores, since a few hundred examples leave no room for a validation split.
DEFAULT_CONFIG = TrainingConfig()
FOLDS = 5

_lock = threading.Lock()
_router: IntentRouter | None = None


class TrainingSetError(ValueError):
    """A training-set file is unreadable or holds a malformed example."""


def training_set_read(path: Path, *, routes: tuple[str, ...] = DEFAULT_ROUTES) -> LabelledTexts:
    """Examples from a JSON Lines file of ``{"text": ..., "label": ...}``, labels among ``routes``."""
    texts, labels = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TrainingSetError(f"cannot read {path}: {exc.strerror}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise TrainingSetError(f"{path.name}:{number}: not JSON ({exc})") from exc
        text, label = (row.get("text"), row.get("label")) if isinstance(row, dict) else (None, None)
        if not isinstance(text, str) or not text.strip() or label not in routes:
            raise TrainingSetError(
                f"{path.name}:{number}: expected a non-empty text and a label among {', '.join(routes)}"
            )
        texts.append(text.strip())
        labels.append(label)
    return LabelledTexts(tuple(texts), tuple(labels))


def router_version(*, examples: Path, model_id: str, config: TrainingConfig) -> str:
    """What a trained router depends on, as a short key: the examples, the embedder, the training."""
    spec = json.dumps(
        {
            "examples": hashlib.sha256(examples.read_bytes()).hexdigest(),
            "model_id": model_id,
            "config": asdict(config),
            "folds": FOLDS,
            "format_version": FORMAT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(spec.encode()).hexdigest()[:16]


def _stored_as(folder: Path, examples: Path, model_id: str, config: TrainingConfig) -> tuple[str, Path]:
    """The router's version key and the file it is stored in."""
    version = router_version(examples=examples, model_id=model_id, config=config)
    return version, folder / f"{examples.stem}-{version}.npz"


def intent_router_train(
    *,
    embedder: Embedder,
    folder: Path,
    examples: Path = DEFAULT_EXAMPLES,
    config: TrainingConfig = DEFAULT_CONFIG,
) -> IntentRouter:
    """Train a router from ``examples`` and store it in ``folder`` under its version; returns it."""
    version, path = _stored_as(folder, examples, embedder.model_id, config)
    router = IntentRouter.fit_folds(embedder, training_set_read(examples), folds=FOLDS, config=config)
    router.info |= {"version": version, "examples": examples.name}
    router.save(path)
    logger.info(
        "trained intent router %s from %s in %.1fs: out-of-fold %s",
        path,
        examples.name,
        sum(router.info["timings"].values()),
        router.info["validation"],
    )
    return router


def intent_router_load_or_train(
    *,
    embedder: Embedder,
    folder: Path,
    examples: Path = DEFAULT_EXAMPLES,
    config: TrainingConfig = DEFAULT_CONFIG,
) -> IntentRouter:
    """The stored router of the current version, trained now if there is none (or it is unreadable)."""
    _, path = _stored_as(folder, examples, embedder.model_id, config)
    if path.is_file():
        try:
            return IntentRouter.load(path, embedder)
        except IntentModelError:
            logger.warning("intent router %s is unreadable: training it again", path, exc_info=True)
    return intent_router_train(embedder=embedder, folder=folder, examples=examples, config=config)


def get_intent_router() -> IntentRouter:
    """The process's default router, with the process's embedder (loaded lazily, after any fork)."""
    global _router
    if _router is None:
        router = intent_router_load_or_train(
            embedder=get_embedder(), folder=Path(settings.TESSERA["MODELS_DIR"]) / ROUTER_FOLDER
        )
        with _lock:
            if _router is None:
                _router = router
    return _router


def reset_intent_router() -> None:
    """Forget the process's router (tests that switch settings)."""
    global _router
    with _lock:
        _router = None
