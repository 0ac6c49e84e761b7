"""Training a tenant's router: the combined set, and an out-of-fold evaluation that can be checked."""

from __future__ import annotations

import pytest

from assistant.routing.fit import (
    combined_examples,
    confusion_matrix,
    evaluate_out_of_fold,
    train_and_evaluate,
)
from assistant.tests.intents import BASE_EXAMPLES, TopicEmbedder
from retrieval.intent import LabelledTexts
from retrieval.intent_model import TrainingConfig

CONFIG = TrainingConfig(min_steps=200)
DEFAULT = LabelledTexts(
    tuple(t for ts in BASE_EXAMPLES.values() for t in ts),
    tuple(label for label, ts in BASE_EXAMPLES.items() for _ in ts),
)
LUNCH = LabelledTexts(
    ("what is for lunch", "lunch menu today", "is lunch served at noon", "vegan lunch options"),
    ("canteen",) * 4,
)


def test_a_tenant_example_with_a_default_text_relabels_it():
    tenant = LabelledTexts(("HELLO THERE", "lunch menu"), ("canteen", "canteen"))
    combined, is_tenant = combined_examples(DEFAULT, tenant)
    assert "hello there" not in combined.texts and combined.texts[-2:] == tenant.texts
    assert len(combined.texts) == len(DEFAULT.texts) + 1
    assert is_tenant == [False] * (len(DEFAULT.texts) - 1) + [True, True]


def test_the_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = confusion_matrix(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "a"], ["a", "b"])
    assert matrix == [[1, 1], [1, 2]]


def test_separable_topics_are_routed_right_out_of_fold():
    combined, is_tenant = combined_examples(DEFAULT, LUNCH)
    evaluation = evaluate_out_of_fold(TopicEmbedder(), combined, is_tenant, folds=4, config=CONFIG)
    assert evaluation["labels"] == sorted({*BASE_EXAMPLES, "canteen"})
    matrix = evaluation["confusion"]
    assert sum(map(sum, matrix)) == len(combined.texts)
    assert evaluation["accuracy"] == 1.0 and evaluation["tenant_accuracy"] == 1.0
    assert all(matrix[i][j] == 0 for i in range(len(matrix)) for j in range(len(matrix)) if i != j)
    assert evaluation["oos_recall"] == evaluation["oos_precision"] == 1.0
    assert "4-fold" in evaluation["method"]


def test_a_label_the_features_cannot_tell_apart_shows_in_the_evaluation():
    # "canteen" examples that look exactly like small talk: out of fold they cannot all be right
    mixed = LabelledTexts(("hello canteen", "hello kitchen", "hello cook", "hello chef"), ("canteen",) * 4)
    combined, is_tenant = combined_examples(DEFAULT, mixed)
    evaluation = evaluate_out_of_fold(TopicEmbedder(), combined, is_tenant, folds=4, config=CONFIG)
    assert evaluation["accuracy"] < 1.0 and evaluation["tenant_accuracy"] < 1.0


def test_the_stored_router_is_trained_on_every_example():
    trained = train_and_evaluate(TopicEmbedder(), DEFAULT, LUNCH, folds=3, config=CONFIG)
    assert set(trained.router.labels) == {*BASE_EXAMPLES, "canteen"}
    assert trained.router.route("anything good for lunch?").label == "canteen"
    assert trained.example_counts == {
        "default": 20,
        "tenant": 4,
        "by_label": dict(sorted({**{label: 4 for label in BASE_EXAMPLES}, "canteen": 4}.items())),
    }
    assert trained.seconds > 0


def test_fewer_than_two_folds_is_refused():
    with pytest.raises(ValueError, match="at least 2 folds"):
        evaluate_out_of_fold(TopicEmbedder(), DEFAULT, [False] * 20, folds=1, config=CONFIG)
