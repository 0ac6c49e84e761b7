"""A small feed-forward classifier in numpy: standardise -> [one ReLU layer] -> softmax.

Trained with mini-batch Adam and weight decay, seeded, so the same data and configuration give the
same weights on the same machine. Inference is two matrix products; the weights are plain float32
arrays that the router stores in an ``.npz`` file (never a pickle).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

Matrix = npt.NDArray[np.float32]
ARRAY_NAMES = ("mean", "scale", "w1", "b1", "w2", "b2")


@dataclass(frozen=True)
class TrainingConfig:
    """How the classifier is trained (chosen on CLINC150's validation split; see docs/benchmarks.md)."""

    hidden: int = 0  # 0: softmax regression on the features; > 0: one ReLU layer this wide
    epochs: int = 10
    min_steps: int = 600  # small training sets get more epochs, so the optimiser still converges
    batch_size: int = 256
    learning_rate: float = 5e-3
    weight_decay: float = 0.6  # decoupled (AdamW, scaled by the learning rate), on weights only
    dropout: float = 0.0  # on the hidden layer, while training
    label_smoothing: float = 0.0
    # The word model added to the logits (retrieval.intent_lexical): the spread of its scores (0: none)
    # and its additive smoothing.
    lexical_weight: float = 0.5
    lexical_smoothing: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hidden < 0 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("hidden must be >= 0, epochs and batch_size >= 1")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("dropout and label_smoothing must be in [0, 1)")
        if self.lexical_weight < 0.0 or self.lexical_smoothing <= 0.0:
            raise ValueError("lexical_weight must be >= 0 and lexical_smoothing > 0")


class SoftmaxClassifier:
    """Class probabilities for feature rows; the arrays are those ``train_classifier`` produced."""

    def __init__(self, arrays: Mapping[str, npt.NDArray[np.generic]]) -> None:
        missing = [name for name in ARRAY_NAMES if name not in arrays]
        if missing:
            raise ValueError(f"classifier arrays missing: {missing}")
        self.mean, self.scale, self.w1, self.b1, self.w2, self.b2 = (
            np.ascontiguousarray(arrays[name], dtype=np.float32) for name in ARRAY_NAMES
        )
        self.hidden = self.w1.shape[1] if self.w1.size else 0
        self.n_features = self.mean.shape[0]
        self.n_classes = self.b2.shape[0]

    def arrays(self) -> dict[str, Matrix]:
        """The weights by name, for saving."""
        return dict(
            zip(ARRAY_NAMES, (self.mean, self.scale, self.w1, self.b1, self.w2, self.b2), strict=True)
        )

    def logits(self, features: Matrix) -> Matrix:
        """Unnormalised class scores, one row per feature row."""
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"expected (n, {self.n_features}) features, got {features.shape}")
        x = (features - self.mean) * self.scale
        if self.hidden:
            x = np.maximum(x @ self.w1 + self.b1, 0.0)
        return np.asarray(x @ self.w2 + self.b2, dtype=np.float32)

    def probabilities(self, features: Matrix) -> Matrix:
        """Softmax of the logits: rows sum to 1."""
        return softmax(self.logits(features))


def softmax(logits: Matrix) -> Matrix:
    """Row-wise softmax, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


class _Adam:
    """AdamW over a list of arrays, updated in place."""

    def __init__(self, params: list[Matrix], learning_rate: float, weight_decay: list[float]) -> None:
        self.params = params
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[Matrix], learning_rate: float) -> None:
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        correction = np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v, decay in zip(self.params, grads, self.m, self.v, self.weight_decay, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            if decay:
                p -= learning_rate * decay * p
            p -= learning_rate * correction * m / (np.sqrt(v) + eps)


def train_classifier(
    features: Matrix, targets: npt.NDArray[np.intp], n_classes: int, config: TrainingConfig
) -> SoftmaxClassifier:
    """Fit the classifier to ``features`` (n, d) and class indices ``targets`` (n,).

    The matrix products run on one BLAS thread: a batch's products are small, and on shared cores
    OpenBLAS's threads wait for each other at every product (measured on the project's loaded 2-core
    machine: 3.5 s instead of 20 s for CLINC150's 15,100 x 768 features, 0.6 s instead of 9 s for the
    default router's 453 examples).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _train(features, targets, n_classes, config)


def _train(
    features: Matrix, targets: npt.NDArray[np.intp], n_classes: int, config: TrainingConfig
) -> SoftmaxClassifier:
    if features.ndim != 2 or len(features) != len(targets) or len(features) == 0:
        raise ValueError("features must be (n, d) with one target per row, n > 0")
    if targets.min() < 0 or targets.max() >= n_classes:
        raise ValueError("targets must be class indices in [0, n_classes)")
    rng = np.random.default_rng(config.seed)
    x = np.ascontiguousarray(features, dtype=np.float32)
    mean = x.mean(axis=0)
    # One scale for every feature (to unit variance overall): an embedding's geometry is kept, and
    # dimensions that barely vary in the training set are not blown up into noise.
    spread = float(np.sqrt(((x - mean) ** 2).sum(axis=1).mean() / x.shape[1]))
    scale = np.full(x.shape[1], 1.0 / max(spread, 1e-6), dtype=np.float32)
    x = (x - mean) * scale
    d = x.shape[1]
    width = config.hidden or d
    w1 = (rng.standard_normal((d, config.hidden)) * np.sqrt(2.0 / d)).astype(np.float32)
    b1 = np.zeros(config.hidden, dtype=np.float32)
    w2 = (rng.standard_normal((width, n_classes)) * np.sqrt(1.0 / width)).astype(np.float32)
    b2 = np.zeros(n_classes, dtype=np.float32)
    params = [w2, b2, w1, b1] if config.hidden else [w2, b2]
    decay = [config.weight_decay, 0.0, config.weight_decay, 0.0][: len(params)]
    adam = _Adam(params, config.learning_rate, decay)
    smooth = np.full(n_classes, config.label_smoothing / n_classes, dtype=np.float32)
    batches = -(-len(x) // config.batch_size)
    epochs = max(config.epochs, -(-config.min_steps // batches))
    steps = epochs * batches
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), config.batch_size):
            batch = order[start : start + config.batch_size]
            grads = _gradients(x[batch], targets[batch], w1, b1, w2, b2, smooth, config, rng)
            # cosine decay of the learning rate to zero over the run
            rate = 0.5 * config.learning_rate * (1 + np.cos(np.pi * step / steps))
            adam.step(grads, float(rate))
            step += 1
    return SoftmaxClassifier({"mean": mean, "scale": scale, "w1": w1, "b1": b1, "w2": w2, "b2": b2})


def _gradients(
    x: Matrix,
    y: npt.NDArray[np.intp],
    w1: Matrix,
    b1: Matrix,
    w2: Matrix,
    b2: Matrix,
    smooth: Matrix,
    config: TrainingConfig,
    rng: np.random.Generator,
) -> list[Matrix]:
    """Mean cross-entropy gradients of one batch, in the optimiser's parameter order."""
    n = len(x)
    hidden_in = x @ w1 + b1 if config.hidden else x
    hidden = np.maximum(hidden_in, 0.0) if config.hidden else x
    keep: Matrix | None = None
    if config.hidden and config.dropout:
        keep = (rng.random(hidden.shape) >= config.dropout).astype(np.float32) / (1 - config.dropout)
        hidden = hidden * keep
    probs = softmax(hidden @ w2 + b2)
    target = np.tile(smooth, (n, 1))
    target[np.arange(n), y] += 1.0 - config.label_smoothing
    d_logits = (probs - target) / n
    grads = [hidden.T @ d_logits, d_logits.sum(axis=0)]
    if config.hidden:
        d_hidden = d_logits @ w2.T
        if keep is not None:
            d_hidden *= keep
        d_hidden *= hidden_in > 0
        grads += [x.T @ d_hidden, d_hidden.sum(axis=0)]
    return [np.asarray(g, dtype=np.float32) for g in grads]
