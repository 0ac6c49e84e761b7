"""The numpy classifier: configuration checks, determinism, a hidden layer where a line is not enough."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.intent_model import SoftmaxClassifier, TrainingConfig, train_classifier


def xor_data(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
    return x, ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(np.intp)


@pytest.mark.parametrize(
    "options",
    [{"hidden": -1}, {"epochs": 0}, {"batch_size": 0}, {"dropout": 1.0}, {"label_smoothing": -0.1}],
)
def test_bad_configurations_are_refused(options):
    with pytest.raises(ValueError, match="must be"):
        TrainingConfig(**options)


def test_a_hidden_layer_learns_what_a_linear_model_cannot():
    x, y = xor_data()
    linear = train_classifier(x, y, 2, TrainingConfig(epochs=30))
    mlp = train_classifier(x, y, 2, TrainingConfig(hidden=32, epochs=60, learning_rate=1e-2))
    assert (linear.probabilities(x).argmax(1) == y).mean() < 0.7
    assert (mlp.probabilities(x).argmax(1) == y).mean() > 0.95
    probabilities = mlp.probabilities(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert probabilities.dtype == np.float32


def test_training_is_seeded_and_the_arrays_rebuild_the_classifier():
    x, y = xor_data()
    config = TrainingConfig(hidden=8, epochs=5, dropout=0.1, label_smoothing=0.1, seed=3)
    first, second = (train_classifier(x, y, 2, config) for _ in range(2))
    rebuilt = SoftmaxClassifier(first.arrays())
    np.testing.assert_array_equal(first.logits(x), second.logits(x))
    np.testing.assert_array_equal(first.logits(x), rebuilt.logits(x))


def test_bad_inputs_are_refused():
    x, y = xor_data(10)
    with pytest.raises(ValueError, match="targets must be class indices"):
        train_classifier(x, y + 5, 2, TrainingConfig())
    with pytest.raises(ValueError, match="one target per row"):
        train_classifier(x, y[:5], 2, TrainingConfig())
    model = train_classifier(x, y, 2, TrainingConfig(epochs=1))
    with pytest.raises(ValueError, match=r"expected \(n, 2\) features"):
        model.logits(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="missing"):
        SoftmaxClassifier({"mean": x[0]})
