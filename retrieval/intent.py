"""Intent routing: which way a chat message goes, decided by a small classifier on the embedder's vectors.

A message whose best label is not confident enough (probability below a threshold chosen on
validation data, never on test data) is routed out of scope. The router is bound to one embedder
model id and saved as a single ``.npz`` file: the classifier's arrays plus a JSON manifest (model
id, labels, threshold, training configuration, validation metrics). No pickle.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from retrieval.embedding import Embedder
from retrieval.intent_model import SoftmaxClassifier, TrainingConfig, train_classifier
from retrieval.persist import atomic_write

OUT_OF_SCOPE = "out_of_scope"
# Tessera's routes: everything but `question` is answered without an LLM.
DEFAULT_ROUTES = ("question", "search", "smalltalk", OUT_OF_SCOPE, "abuse")
FORMAT = "tessera-intent-router"
FORMAT_VERSION = 1

Vectors = npt.NDArray[np.float32]


class IntentModelError(ValueError):
    """A saved router is missing, unreadable, of another format, or bound to another embedder."""


@dataclass(frozen=True)
class Route:
    """Where a message goes and how sure the classifier is of its best label (0..1)."""

    label: str
    confidence: float


@dataclass(frozen=True)
class LabelledTexts:
    """Texts and their labels, in the same order (out-of-scope examples carry the OOS label)."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")


class IntentClassifier(Protocol):
    """What the chat service needs from a router."""

    model_id: str

    def route(self, text: str) -> Route: ...

    def route_many(self, texts: Sequence[str]) -> list[Route]: ...


def intent_metrics(
    truth: Sequence[str], predicted: Sequence[str], oos_label: str = OUT_OF_SCOPE
) -> dict[str, float | None]:
    """In-scope accuracy, out-of-scope recall and precision, as fractions (None where undefined).

    As in CLINC150: an in-scope message routed out of scope counts as wrong for in-scope accuracy.
    """
    t = np.asarray(truth, dtype=object)
    p = np.asarray(predicted, dtype=object)
    in_scope, oos, said_oos = t != oos_label, t == oos_label, p == oos_label

    def share(hits: npt.NDArray[np.bool_], among: npt.NDArray[np.bool_]) -> float | None:
        return float(hits[among].mean()) if among.any() else None

    return {
        "in_scope_accuracy": share(p == t, in_scope),
        "oos_recall": share(said_oos, oos),
        "oos_precision": share(oos, said_oos),
    }


def choose_threshold(
    best: Sequence[str],
    confidence: npt.NDArray[np.float32],
    truth: Sequence[str],
    *,
    oos_label: str = OUT_OF_SCOPE,
    oos_weight: float = 1.0,
) -> float:
    """The confidence threshold that maximises in-scope accuracy + ``oos_weight`` x OOS recall.

    ``best`` is the classifier's best label per example (it may be the OOS label itself when OOS is
    a trained class), ``confidence`` its probability. Below the threshold a message is routed out
    of scope. Candidates lie halfway between neighbouring confidences; ties go to the lowest. With
    no out-of-scope example to learn from the threshold is 0 (never reject).
    """
    t = np.asarray(truth, dtype=object)
    b = np.asarray(best, dtype=object)
    conf = np.asarray(confidence, dtype=np.float64)
    oos = t == oos_label
    if not oos.any() or oos.all():
        return 0.0
    levels = np.unique(conf)
    candidates = np.concatenate([[0.0], (levels[:-1] + levels[1:]) / 2, [levels[-1] + 1e-6]])
    # in-scope right: best label right and confident enough; OOS caught: best is OOS or not confident
    right = np.sort(conf[~oos & (b == t)])
    kept_right = len(right) - np.searchsorted(right, candidates, side="left")
    unsure = np.sort(conf[oos & (b != oos_label)])
    caught = int((oos & (b == oos_label)).sum()) + np.searchsorted(unsure, candidates, side="left")
    score = kept_right / (~oos).sum() + oos_weight * caught / oos.sum()
    return float(candidates[int(np.argmax(score))])


class IntentRouter:
    """A trained router: embed a message, classify it, route it out of scope below the threshold."""

    def __init__(
        self,
        embedder: Embedder,
        classifier: SoftmaxClassifier,
        *,
        labels: Sequence[str],
        threshold: float,
        oos_label: str = OUT_OF_SCOPE,
        info: Mapping[str, Any] | None = None,
    ) -> None:
        if classifier.n_classes != len(labels):
            raise ValueError(f"{classifier.n_classes} classes but {len(labels)} labels")
        self.embedder = embedder
        self.classifier = classifier
        self.labels = tuple(labels)
        self.threshold = float(threshold)
        self.oos_label = oos_label
        self.model_id = embedder.model_id
        self.info: dict[str, Any] = dict(info or {})

    @classmethod
    def fit(
        cls,
        embedder: Embedder,
        train: LabelledTexts,
        validation: LabelledTexts,
        *,
        config: TrainingConfig | None = None,
        oos_label: str = OUT_OF_SCOPE,
    ) -> IntentRouter:
        """Train on ``train``, then choose the threshold on ``validation`` (which should hold
        out-of-scope examples). Timings of embedding and fitting are kept in ``info``."""
        started = time.perf_counter()
        train_vectors = embedder.embed_documents(list(train.texts))
        embedded_train = time.perf_counter()
        validation_vectors = embedder.embed_documents(list(validation.texts))
        embedded_validation = time.perf_counter()
        router = cls.fit_vectors(
            embedder,
            train_vectors,
            train.labels,
            validation_vectors,
            validation.labels,
            config=config,
            oos_label=oos_label,
        )
        router.info["timings"].update(
            embed_train_seconds=round(embedded_train - started, 3),
            embed_validation_seconds=round(embedded_validation - embedded_train, 3),
        )
        return router

    @classmethod
    def fit_vectors(
        cls,
        embedder: Embedder,
        train_vectors: Vectors,
        train_labels: Sequence[str],
        validation_vectors: Vectors,
        validation_labels: Sequence[str],
        *,
        config: TrainingConfig | None = None,
        oos_label: str = OUT_OF_SCOPE,
    ) -> IntentRouter:
        """``fit`` on vectors the caller already has from ``embedder`` (one row per label)."""
        config = config or TrainingConfig()
        started = time.perf_counter()
        router = cls._trained(embedder, train_vectors, train_labels, config, oos_label)
        fit_seconds = time.perf_counter() - started
        best, confidence = router._best(validation_vectors)
        router._set_threshold(best, confidence, validation_labels)
        router.info |= {
            "train_examples": len(train_labels),
            "validation_examples": len(validation_labels),
            "timings": {"fit_seconds": round(fit_seconds, 3)},
        }
        return router

    @classmethod
    def fit_folds(
        cls,
        embedder: Embedder,
        examples: LabelledTexts,
        *,
        folds: int = 5,
        config: TrainingConfig | None = None,
        oos_label: str = OUT_OF_SCOPE,
    ) -> IntentRouter:
        """For a training set too small to hold out a validation split: each example is scored by a
        model trained on the other folds, the threshold is chosen on those out-of-fold scores, and
        the final model is trained on every example. ``info["validation"]`` holds the out-of-fold
        metrics, an honest estimate of how the router does on messages it has not seen."""
        config = config or TrainingConfig()
        started = time.perf_counter()
        vectors = embedder.embed_documents(list(examples.texts))
        embedded = time.perf_counter()
        labels = np.asarray(examples.labels, dtype=object)
        fold = _stratified_folds(examples.labels, folds, seed=config.seed)
        best = np.empty(len(labels), dtype=object)
        confidence = np.zeros(len(labels), dtype=np.float32)
        for k in range(folds):
            held_out = fold == k
            model = cls._trained(embedder, vectors[~held_out], list(labels[~held_out]), config, oos_label)
            fold_best, fold_confidence = model._best(vectors[held_out])
            best[held_out], confidence[held_out] = fold_best, fold_confidence
        router = cls._trained(embedder, vectors, examples.labels, config, oos_label)
        router._set_threshold(list(best), confidence, examples.labels)
        router.info |= {
            "train_examples": len(labels),
            "validation_examples": len(labels),
            "validation_method": f"{folds}-fold out-of-fold predictions",
            "timings": {
                "embed_train_seconds": round(embedded - started, 3),
                "fit_seconds": round(time.perf_counter() - embedded, 3),
            },
        }
        return router

    @classmethod
    def _trained(
        cls,
        embedder: Embedder,
        vectors: Vectors,
        labels: Sequence[str],
        config: TrainingConfig,
        oos_label: str,
    ) -> IntentRouter:
        """A router with a freshly trained classifier and no threshold yet."""
        names = sorted(set(labels))
        if len(names) < 2:
            raise ValueError("training needs at least two labels")
        index = {label: i for i, label in enumerate(names)}
        targets = np.array([index[label] for label in labels], dtype=np.intp)
        classifier = train_classifier(vectors, targets, len(names), config)
        info = {"trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "config": asdict(config)}
        return cls(embedder, classifier, labels=names, threshold=0.0, oos_label=oos_label, info=info)

    def _set_threshold(
        self, best: Sequence[str], confidence: npt.NDArray[np.float32], truth: Sequence[str]
    ) -> None:
        """Choose the threshold on validation scores; keep the validation metrics it gives."""
        self.threshold = choose_threshold(best, confidence, truth, oos_label=self.oos_label)
        predicted = [
            self.oos_label if c < self.threshold else b for b, c in zip(best, confidence, strict=True)
        ]
        self.info["validation"] = intent_metrics(truth, predicted, self.oos_label)

    def _best(self, vectors: Vectors) -> tuple[list[str], npt.NDArray[np.float32]]:
        probabilities = self.classifier.probabilities(np.atleast_2d(vectors))
        top = probabilities.argmax(axis=1)
        return [self.labels[i] for i in top], probabilities[np.arange(len(top)), top]

    def route_vectors(self, vectors: Vectors) -> list[Route]:
        """Routes of messages already embedded by this router's embedder."""
        best, confidence = self._best(vectors)
        return [
            Route(self.oos_label if c < self.threshold else label, float(c))
            for label, c in zip(best, confidence, strict=True)
        ]

    def route(self, text: str) -> Route:
        """Route one message (embeds it: a few milliseconds with the ONNX embedder)."""
        return self.route_vectors(self.embedder.embed_query(text)[np.newaxis, :])[0]

    def route_many(self, texts: Sequence[str]) -> list[Route]:
        """Route many messages, embedded in batches."""
        if not texts:
            return []
        return self.route_vectors(self.embedder.embed_documents(list(texts)))

    def manifest(self) -> dict[str, Any]:
        """What the saved file says about this router, besides its weights."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_id": self.model_id,
            "labels": list(self.labels),
            "oos_label": self.oos_label,
            "threshold": self.threshold,
            **self.info,
        }

    def save(self, path: Path) -> None:
        """Write the router to ``path`` (an ``.npz`` file), atomically."""
        arrays: dict[str, Any] = dict(self.classifier.arrays())
        arrays["manifest"] = np.array(json.dumps(self.manifest(), sort_keys=True))

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:  # a handle, so numpy adds no ".npz" to the temp name
                np.savez(handle, **arrays)

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> IntentRouter:
        """Read a router saved by ``save``; it must have been trained on ``embedder``'s model."""
        manifest, arrays = read_router_file(path)
        if manifest["model_id"] != embedder.model_id:
            raise IntentModelError(
                f"{path} was trained on embedder {manifest['model_id']!r}, not {embedder.model_id!r}"
            )
        reserved = {"format", "format_version", "model_id", "labels", "oos_label", "threshold"}
        return cls(
            embedder,
            SoftmaxClassifier(arrays),
            labels=manifest["labels"],
            threshold=manifest["threshold"],
            oos_label=manifest["oos_label"],
            info={k: v for k, v in manifest.items() if k not in reserved},
        )


def read_router_file(path: Path) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.generic]]]:
    """The manifest and arrays of a saved router, checked for format and version."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        manifest = json.loads(str(arrays.pop("manifest")))
    except FileNotFoundError as exc:
        raise IntentModelError(f"no intent router at {path}") from exc
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise IntentModelError(f"unreadable intent router at {path}: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise IntentModelError(
            f"{path} is not a {FORMAT} file of version {FORMAT_VERSION} "
            f"(format {manifest.get('format')!r}, version {manifest.get('format_version')!r})"
        )
    return manifest, arrays


class FakeIntentRouter:
    """Routes by keywords, for tests of the code that uses a router: no model, no I/O."""

    model_id = "fake-intent-router"

    RULES: tuple[tuple[str, str], ...] = (
        ("ignore your instructions", "abuse"),
        ("system prompt", "abuse"),
        ("idiot", "abuse"),
        ("weather", OUT_OF_SCOPE),
        ("joke", OUT_OF_SCOPE),
        ("hello", "smalltalk"),
        ("thank", "smalltalk"),
        ("find ", "search"),
        ("show me", "search"),
    )

    def __init__(self, rules: Sequence[tuple[str, str]] | None = None, default: str = "question") -> None:
        self.rules = tuple(rules) if rules is not None else self.RULES
        self.default = default

    def route(self, text: str) -> Route:
        """The label of the first rule whose phrase the message contains, else the default."""
        lowered = text.lower()
        for phrase, label in self.rules:
            if phrase in lowered:
                return Route(label, 1.0)
        return Route(self.default, 1.0)

    def route_many(self, texts: Sequence[str]) -> list[Route]:
        """``route`` for each message."""
        return [self.route(text) for text in texts]


def _stratified_folds(labels: Sequence[str], folds: int, *, seed: int) -> npt.NDArray[np.intp]:
    """A fold number per example; each label's examples are shuffled and dealt round the folds."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.intp)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    offset = 0
    for label in sorted(by_label):
        members = rng.permutation(by_label[label])
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)  # labels with fewer examples than folds do not all start at fold 0
    return fold
