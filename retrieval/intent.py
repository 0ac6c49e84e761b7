"""Intent routing: which way a chat message goes, decided by a small classifier on the embedder's vectors.

The classifier's logits are those of a softmax on the embedder's features
(``retrieval.intent_model``) plus the scores of a naive Bayes on the message's words
(``retrieval.intent_lexical``). A message whose best label is ``out_of_scope``, or whose classifier
is not sure enough (energy score below a threshold chosen on validation data, never on test data),
is routed out of scope. The router is bound to one feature model id (``retrieval.intent_features``)
and saved as a single ``.npz`` file: both models' arrays plus a JSON manifest (model id, labels,
threshold, training configuration, validation metrics). No pickle.
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
from retrieval.intent_features import Featurizer, featurizer_for
from retrieval.intent_lexical import WordNaiveBayes
from retrieval.intent_model import SoftmaxClassifier, TrainingConfig, train_classifier
from retrieval.intent_validation import (
    OOS_SHARE,
    OUT_OF_SCOPE,
    choose_threshold,
    intent_metrics,
    stratified_folds,
)
from retrieval.persist import atomic_write

# Tessera's routes: everything but `question` is answered without an LLM.
DEFAULT_ROUTES = ("question", "search", "smalltalk", OUT_OF_SCOPE, "abuse")
FORMAT = "tessera-intent-router"
FORMAT_VERSION = 2  # 2: the word model's arrays

Vectors = npt.NDArray[np.float32]


class IntentModelError(ValueError):
    """A saved router is missing, unreadable, of another format, or bound to another embedder."""


@dataclass(frozen=True)
class Route:
    """Where a message goes and how sure the classifier is of its best label (0..1). ``unsure``: the
    label is out of scope only because the energy score fell below the threshold (the best label,
    whose probability ``confidence`` is, was another); a caller may treat such a message otherwise."""

    label: str
    confidence: float
    unsure: bool = False


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


class IntentRouter:
    """A trained router: featurize a message, classify it, route it out of scope when unsure.

    Sureness is the energy score, the log-sum-exp of the classifier's logits: on CLINC150's
    validation split it separates out-of-scope messages better than the top probability or the
    margin between the top two (docs/benchmarks.md). ``Route.confidence`` is the top probability.
    ``lexical``, when given, adds its word scores to the classifier's logits.
    """

    def __init__(
        self,
        featurizer: Featurizer,
        classifier: SoftmaxClassifier,
        *,
        labels: Sequence[str],
        threshold: float | None,
        oos_label: str = OUT_OF_SCOPE,
        info: Mapping[str, Any] | None = None,
        lexical: WordNaiveBayes | None = None,
    ) -> None:
        if classifier.n_classes != len(labels):
            raise ValueError(f"{classifier.n_classes} classes but {len(labels)} labels")
        if lexical is not None and lexical.n_classes != len(labels):
            raise ValueError(f"the word model has {lexical.n_classes} classes but {len(labels)} labels")
        self.featurizer = featurizer
        self.classifier = classifier
        self.lexical = lexical
        self.labels = tuple(labels)
        self.threshold = threshold
        self.oos_label = oos_label
        self.model_id = featurizer.model_id
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
        out-of-scope examples). Timings of featurizing and fitting are kept in ``info``."""
        featurizer = featurizer_for(embedder)
        started = time.perf_counter()
        train_features = featurizer.features(train.texts)
        featurized_train = time.perf_counter()
        validation_features = featurizer.features(validation.texts)
        featurized_validation = time.perf_counter()
        config = config or TrainingConfig()
        router = cls._trained(featurizer, train_features, train, config, oos_label)
        best, _, score = router._scored(validation_features, validation.texts)
        router._set_threshold(best, score, validation.labels)
        router.info |= {
            "train_examples": len(train.labels),
            "validation_examples": len(validation.labels),
            "timings": {
                "embed_train_seconds": round(featurized_train - started, 3),
                "embed_validation_seconds": round(featurized_validation - featurized_train, 3),
                "fit_seconds": round(time.perf_counter() - featurized_validation, 3),
            },
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
        featurizer = featurizer_for(embedder)
        config = config or TrainingConfig()
        started = time.perf_counter()
        features = featurizer.features(examples.texts)
        featurized = time.perf_counter()
        labels = np.asarray(examples.labels, dtype=object)
        texts = np.asarray(examples.texts, dtype=object)
        fold = stratified_folds(examples.labels, folds, seed=config.seed)
        best = np.empty(len(labels), dtype=object)
        score = np.zeros(len(labels), dtype=np.float32)
        for k in range(folds):
            held_out = fold == k
            kept = LabelledTexts(tuple(texts[~held_out]), tuple(labels[~held_out]))
            model = cls._trained(featurizer, features[~held_out], kept, config, oos_label)
            fold_best, _, fold_score = model._scored(features[held_out], list(texts[held_out]))
            best[held_out], score[held_out] = fold_best, fold_score
        router = cls._trained(featurizer, features, examples, config, oos_label)
        router._set_threshold(list(best), score, examples.labels)
        router.info |= {
            "train_examples": len(labels),
            "validation_examples": len(labels),
            "validation_method": f"{folds}-fold out-of-fold predictions",
            "timings": {
                "embed_train_seconds": round(featurized - started, 3),
                "fit_seconds": round(time.perf_counter() - featurized, 3),
            },
        }
        return router

    @classmethod
    def _trained(
        cls,
        featurizer: Featurizer,
        features: Vectors,
        examples: LabelledTexts,
        config: TrainingConfig,
        oos_label: str,
    ) -> IntentRouter:
        """A router with freshly trained models (``features`` are the examples') and no threshold yet."""
        names = sorted(set(examples.labels))
        if len(names) < 2:
            raise ValueError("training needs at least two labels")
        index = {label: i for i, label in enumerate(names)}
        targets = np.array([index[label] for label in examples.labels], dtype=np.intp)
        classifier = train_classifier(features, targets, len(names), config)
        lexical = None
        if config.lexical_weight:
            lexical = WordNaiveBayes.fit(
                examples.texts,
                targets,
                len(names),
                smoothing=config.lexical_smoothing,
                weight=config.lexical_weight,
            )
        info = {"trained_at": datetime.now(UTC).isoformat(timespec="seconds"), "config": asdict(config)}
        return cls(
            featurizer,
            classifier,
            labels=names,
            threshold=None,
            oos_label=oos_label,
            info=info,
            lexical=lexical,
        )

    def _set_threshold(
        self, best: Sequence[str], score: npt.NDArray[np.float32], truth: Sequence[str]
    ) -> None:
        """Choose the threshold on validation scores; keep the validation metrics it gives."""
        self.threshold = choose_threshold(best, score, truth, oos_label=self.oos_label)
        self.info["oos_share"] = OOS_SHARE
        predicted = [self._label(b, float(v)) for b, v in zip(best, score, strict=True)]
        self.info["validation"] = intent_metrics(truth, predicted, self.oos_label)

    def _label(self, best: str, score: float) -> str:
        return self.oos_label if self.threshold is not None and score < self.threshold else best

    def _scored(
        self, features: Vectors, texts: Sequence[str] | None
    ) -> tuple[list[str], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Best label, its probability and the energy score of each message (feature row + text)."""
        logits = self.classifier.logits(np.atleast_2d(features))
        if self.lexical is not None:
            if texts is None or len(texts) != len(logits):
                raise ValueError("this router also reads the words: pass the texts of the feature rows")
            logits = logits + self.lexical.scores(texts)
        top = logits.argmax(axis=1)
        peak = logits[np.arange(len(top)), top]
        total = np.exp(logits - peak[:, np.newaxis]).sum(axis=1)
        energy = (peak + np.log(total)).astype(np.float32)
        return [self.labels[i] for i in top], (1.0 / total).astype(np.float32), energy

    def route_features(self, features: Vectors, texts: Sequence[str] | None = None) -> list[Route]:
        """Routes of messages already featurized by this router's featurizer; ``texts`` (the
        messages, in the same order) are needed when the router has a word model."""
        best, confidence, score = self._scored(features, texts)
        routes = []
        for label, c, v in zip(best, confidence, score, strict=True):
            routed = self._label(label, float(v))
            routes.append(Route(routed, float(c), unsure=routed != label))
        return routes

    def route(self, text: str) -> Route:
        """Route one message (one forward pass of the embedder: a few milliseconds with ONNX)."""
        return self.route_features(self.featurizer.features([text]), [text])[0]

    def route_many(self, texts: Sequence[str]) -> list[Route]:
        """Route many messages, featurized in batches."""
        if not texts:
            return []
        return self.route_features(self.featurizer.features(list(texts)), texts)

    def manifest(self) -> dict[str, Any]:
        """What the saved file says about this router, besides its weights."""
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_id": self.model_id,
            "labels": list(self.labels),
            "oos_label": self.oos_label,
            "threshold": self.threshold,
            "score": "energy",
            **self.info,
        }

    def save(self, path: Path) -> None:
        """Write the router to ``path`` (an ``.npz`` file), atomically."""
        arrays: dict[str, Any] = dict(self.classifier.arrays())
        if self.lexical is not None:
            arrays |= self.lexical.arrays()
        arrays["manifest"] = np.array(json.dumps(self.manifest(), sort_keys=True))

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:  # a handle, so numpy adds no ".npz" to the temp name
                np.savez(handle, **arrays)

        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)

    @classmethod
    def load(cls, path: Path, embedder: Embedder) -> IntentRouter:
        """Read a router saved by ``save``; it must have been trained on ``embedder``'s features."""
        featurizer = featurizer_for(embedder)
        manifest, arrays = read_router_file(path)
        if manifest["model_id"] != featurizer.model_id:
            raise IntentModelError(
                f"{path} was trained on features {manifest['model_id']!r}, not {featurizer.model_id!r}"
            )
        reserved = {"format", "format_version", "model_id", "labels", "oos_label", "threshold", "score"}
        try:
            classifier = SoftmaxClassifier(arrays)
            lexical = WordNaiveBayes(arrays) if "lexical_vocabulary" in arrays else None
            return cls(
                featurizer,
                classifier,
                labels=manifest["labels"],
                threshold=manifest["threshold"],
                oos_label=manifest["oos_label"],
                info={k: v for k, v in manifest.items() if k not in reserved},
                lexical=lexical,
            )
        except (ValueError, KeyError) as exc:
            raise IntentModelError(f"unreadable intent router at {path}: {exc}") from exc


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

    def __init__(
        self,
        rules: Sequence[tuple[str, str]] | None = None,
        default: str = "question",
        confidence: float = 1.0,
    ) -> None:
        self.rules = tuple(rules) if rules is not None else self.RULES
        self.default = default
        self.confidence = confidence  # what every route says of itself

    def route(self, text: str) -> Route:
        """The label of the first rule whose phrase the message contains, else the default."""
        lowered = text.lower()
        for phrase, label in self.rules:
            if phrase in lowered:
                return Route(label, self.confidence)
        return Route(self.default, self.confidence)

    def route_many(self, texts: Sequence[str]) -> list[Route]:
        """``route`` for each message."""
        return [self.route(text) for text in texts]
