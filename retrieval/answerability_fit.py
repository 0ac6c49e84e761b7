"""Fitting the answerability check (training code: ``manage.py answerability_train`` runs it; the
answer path only loads the fitted ``AnswerabilityModel``): a logistic regression on the retrieval
signals' features, and the threshold chosen on validation rows for a bounded false abstention."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from retrieval.answerability import AnswerabilityModel, Floats, sigmoid


def fit_logistic(
    x: npt.ArrayLike, y: npt.ArrayLike, *, l2: float = 1e-2, iterations: int = 50
) -> tuple[Floats, Floats, Floats, float]:
    """Logistic regression by IRLS (Newton's method) on standardised columns, with a small L2
    penalty on the coefficients (not the intercept): (mean, scale, coef, intercept)."""
    data = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.float64)
    if data.ndim != 2 or labels.shape != (data.shape[0],):
        raise ValueError("x must be (n, d) and y (n,)")
    if not 0 < labels.sum() < labels.size:
        raise ValueError("both classes are needed to fit")
    mean = data.mean(axis=0)
    scale = data.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    design = np.hstack([(data - mean) / scale, np.ones((data.shape[0], 1))])
    penalty = np.diag([l2 * data.shape[0]] * data.shape[1] + [0.0])
    weights = np.zeros(design.shape[1])
    for _ in range(iterations):
        p = sigmoid(design @ weights)
        gradient = design.T @ (p - labels) + penalty @ weights
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(hessian.shape[0]), gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return mean, scale, weights[:-1], float(weights[-1])


def threshold_for(answerable_probabilities: npt.ArrayLike, *, max_false_abstention: float) -> float:
    """The highest threshold that abstains on at most ``max_false_abstention`` of the answerable
    cases (abstain when p < threshold)."""
    values = np.sort(np.asarray(answerable_probabilities, dtype=np.float64))
    if values.size == 0:
        raise ValueError("no answerable cases to choose a threshold on")
    allowed = math.floor(max_false_abstention * values.size)  # cases allowed below the threshold
    return float(values[allowed]) if allowed < values.size else 1.0


MAX_FALSE_ABSTENTION = 0.03  # of answerable cases, on the validation split
MAX_MISSED_QUESTIONS = 0.01  # the same, for the relevance threshold (a question sent away)


def model_fit(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    validation: npt.ArrayLike,
    *,
    max_false_abstention: float = MAX_FALSE_ABSTENTION,
    version: int = 1,
) -> tuple[AnswerabilityModel, dict[str, float]]:
    """Fit on the rows not in ``validation`` (a boolean mask), choose the threshold on the
    validation rows' answerable cases; the model and its figures on the validation rows."""
    data, labels = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)
    held = np.asarray(validation, dtype=np.bool_)
    mean, scale, coef, intercept = fit_logistic(data[~held], labels[~held])
    unthresholded = AnswerabilityModel(
        tuple(mean.tolist()), tuple(scale.tolist()), tuple(coef.tolist()), intercept, 0.5
    )
    p = unthresholded.probability(data[held])
    held_labels = labels[held]
    threshold = threshold_for(p[held_labels == 1], max_false_abstention=max_false_abstention)
    relevance = min(threshold, threshold_for(p[held_labels == 1], max_false_abstention=MAX_MISSED_QUESTIONS))
    figures = {
        "train_cases": int((~held).sum()),
        "validation_cases": int(held.sum()),
        "validation_abstain_answerable": round(float((p[held_labels == 1] < threshold).mean()), 4),
        "validation_abstain_unanswerable": round(float((p[held_labels == 0] < threshold).mean()), 4),
        "validation_irrelevant_answerable": round(float((p[held_labels == 1] < relevance).mean()), 4),
        "validation_irrelevant_unanswerable": round(float((p[held_labels == 0] < relevance).mean()), 4),
    }
    model = replace(unthresholded, threshold=threshold, relevance_threshold=relevance, version=version)
    return model, figures
