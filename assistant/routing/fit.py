"""Training a tenant's intent router on Tessera's default examples plus the tenant's own, and
evaluating it on messages it has not seen, before anyone activates it.

The evaluation is a stratified k-fold over the COMBINED set (default + tenant examples): each fold
is routed by a router trained, exactly as the stored one is (``IntentRouter.fit_folds``: weights on
its training part, out-of-scope threshold from that part's own inner out-of-fold scores), on the
other folds only. So every figure (accuracy, out-of-scope recall and precision, the confusion
matrix) is about unseen messages, threshold included; ``tenant_accuracy`` is the same figure on the
tenant's own examples alone, the ones its admins care about. The router that is stored is then
trained on every example. No Django here: the caller reads and writes the database.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from retrieval.embedding import Embedder
from retrieval.intent import IntentRouter, LabelledTexts
from retrieval.intent_model import TrainingConfig
from retrieval.intent_validation import OUT_OF_SCOPE, intent_metrics

EVALUATION_FOLDS = 5
# folds of the inner split that chooses each router's threshold (as the default router's)
THRESHOLD_FOLDS = 5


@dataclass(frozen=True)
class TrainedRouter:
    """The router trained on every example, its out-of-fold evaluation, and what it all took."""

    router: IntentRouter
    evaluation: dict[str, Any]
    example_counts: dict[str, Any]
    seconds: float


def combined_examples(default: LabelledTexts, tenant: LabelledTexts) -> tuple[LabelledTexts, list[bool]]:
    """The default examples and the tenant's, and which are the tenant's. A tenant example with the
    text of a default one (ignoring case) replaces it: the tenant's label wins."""
    own = {text.lower() for text in tenant.texts}
    kept = [
        (t, label) for t, label in zip(default.texts, default.labels, strict=True) if t.lower() not in own
    ]
    texts = tuple(t for t, _ in kept) + tenant.texts
    labels = tuple(label for _, label in kept) + tenant.labels
    return LabelledTexts(texts, labels), [False] * len(kept) + [True] * len(tenant.texts)


def stratified_folds(labels: Sequence[str], folds: int, *, seed: int) -> npt.NDArray[np.intp]:
    """A fold number per example: each label's examples shuffled (seeded) and dealt round the folds."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=np.intp)
    offset = 0
    for label in sorted(set(labels)):
        members = rng.permutation([i for i, other in enumerate(labels) if other == label])
        fold[members] = (np.arange(len(members)) + offset) % folds
        offset += len(members)
    return fold


def confusion_matrix(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> list[list[int]]:
    """Counts by true label (rows) and predicted label (columns), in the order of ``labels``."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for t, p in zip(truth, predicted, strict=True):
        matrix[index[t]][index[p]] += 1
    return matrix


def evaluate_out_of_fold(
    embedder: Embedder,
    examples: LabelledTexts,
    is_tenant: Sequence[bool],
    *,
    folds: int = EVALUATION_FOLDS,
    config: TrainingConfig,
) -> dict[str, Any]:
    """Route each example with a router trained without its fold; the figures of those routes."""
    if folds < 2:
        raise ValueError("evaluation needs at least 2 folds")
    fold = stratified_folds(examples.labels, folds, seed=config.seed)
    texts = np.asarray(examples.texts, dtype=object)
    labels = np.asarray(examples.labels, dtype=object)
    predicted = np.empty(len(labels), dtype=object)
    for k in range(folds):
        held_out = fold == k
        if not held_out.any():
            continue
        part = LabelledTexts(tuple(texts[~held_out]), tuple(labels[~held_out]))
        router = IntentRouter.fit_folds(embedder, part, folds=THRESHOLD_FOLDS, config=config)
        predicted[held_out] = [route.label for route in router.route_many(list(texts[held_out]))]
    truth, said = list(examples.labels), list(predicted)
    names = sorted(set(truth) | set(said))
    own = np.asarray(is_tenant, dtype=bool)
    right = labels == predicted
    return {
        "method": f"{folds}-fold out-of-fold routes on the default + tenant examples "
        f"(each fold's threshold from {THRESHOLD_FOLDS} inner folds of its training part)",
        "accuracy": float(right.mean()),
        **intent_metrics(truth, said, OUT_OF_SCOPE),
        "tenant_accuracy": float(right[own].mean()) if own.any() else None,
        "labels": names,
        "confusion": confusion_matrix(truth, said, names),
    }


def train_and_evaluate(
    embedder: Embedder,
    default: LabelledTexts,
    tenant: LabelledTexts,
    *,
    folds: int = EVALUATION_FOLDS,
    config: TrainingConfig,
) -> TrainedRouter:
    """Evaluate out of fold, then train the router to store on every example.

    The classifier's matrices are small: one BLAS thread trains them much faster than a pool whose
    threads wait on each other (0.5 s instead of 19.5 s for the default set on 2 busy cores)."""
    started = time.perf_counter()
    examples, is_tenant = combined_examples(default, tenant)
    with threadpool_limits(limits=1, user_api="blas"):
        evaluation = evaluate_out_of_fold(embedder, examples, is_tenant, folds=folds, config=config)
        router = IntentRouter.fit_folds(embedder, examples, folds=THRESHOLD_FOLDS, config=config)
    by_label: dict[str, int] = {}
    for label in examples.labels:
        by_label[label] = by_label.get(label, 0) + 1
    counts = {
        "default": len(examples.labels) - sum(is_tenant),
        "tenant": sum(is_tenant),
        "by_label": dict(sorted(by_label.items())),
    }
    return TrainedRouter(router, evaluation, counts, round(time.perf_counter() - started, 3))
