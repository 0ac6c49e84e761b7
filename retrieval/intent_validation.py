"""How an intent router is validated: the routing metrics (as CLINC150 reports them), the
out-of-scope threshold chosen on validation scores (never on test data), and the stratified folds
that stand in for a validation split when a tenant's training set is small."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

OUT_OF_SCOPE = "out_of_scope"
# The share of messages assumed out of scope when the threshold is chosen (see choose_threshold).
OOS_SHARE = 0.2


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
    score: npt.NDArray[np.float32],
    truth: Sequence[str],
    *,
    oos_label: str = OUT_OF_SCOPE,
    oos_share: float = OOS_SHARE,
) -> float | None:
    """The score threshold that routes the most messages right, if a share ``oos_share`` of all
    messages is out of scope: it maximises ``(1 - oos_share) x in-scope accuracy + oos_share x OOS
    recall`` on the validation examples given.

    ``best`` is the classifier's best label per example (it may be the OOS label itself when OOS is
    a trained class), ``score`` its confidence (higher: surer). Below the threshold a message is
    routed out of scope. Candidates lie halfway between neighbouring scores; ties go to the lowest.
    None (never reject) when there is no out-of-scope example, or no in-scope one, to learn from.
    """
    if not 0.0 < oos_share < 1.0:
        raise ValueError("oos_share must be between 0 and 1")
    t = np.asarray(truth, dtype=object)
    b = np.asarray(best, dtype=object)
    values = np.asarray(score, dtype=np.float64)
    oos = t == oos_label
    if not oos.any() or oos.all():
        return None
    levels = np.unique(values)
    candidates = np.concatenate([[-np.inf], (levels[:-1] + levels[1:]) / 2, [levels[-1] + 1.0]])
    # in-scope right: best label right and sure enough; OOS caught: best is OOS, or not sure enough
    right = np.sort(values[~oos & (b == t)])
    kept_right = len(right) - np.searchsorted(right, candidates, side="left")
    unsure = np.sort(values[oos & (b != oos_label)])
    caught = int((oos & (b == oos_label)).sum()) + np.searchsorted(unsure, candidates, side="left")
    routed_right = (1 - oos_share) * kept_right / (~oos).sum() + oos_share * caught / oos.sum()
    chosen = float(candidates[int(np.argmax(routed_right))])
    return None if chosen == -np.inf else chosen


def stratified_folds(labels: Sequence[str], folds: int, *, seed: int) -> npt.NDArray[np.intp]:
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
