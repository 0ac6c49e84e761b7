"""Ranking metrics against values computed by hand (the formulas are in each comment)."""

from __future__ import annotations

import math

import pytest

from retrieval.metrics import (
    evaluate_run,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    percentile,
    recall_at_k,
)

GRADED = {"d1": 2, "d2": 1, "d3": 0}  # d3 is judged, and not relevant
RANKING = ["d3", "d1", "unjudged", "d2"]


def test_ndcg_uses_graded_linear_gains_and_log2_discount():
    # DCG@10 = 0/log2(2) + 2/log2(3) + 0/log2(4) + 1/log2(5) = 1.26186 + 0.43068 = 1.69254
    # IDCG@10 = 2/log2(2) + 1/log2(3) = 2.63093
    assert ndcg_at_k(RANKING, GRADED, 10) == pytest.approx(0.6433224, abs=1e-7)
    # @3 leaves d2 out of the ranking but not of the ideal: 1.26186 / 2.63093
    assert ndcg_at_k(RANKING, GRADED, 3) == pytest.approx(0.4796249, abs=1e-7)
    assert ndcg_at_k(RANKING, GRADED, 1) == 0.0


def test_ndcg_ideal_is_cut_at_k_and_sorted_by_gain():
    judgments = {"a": 1, "b": 3, "c": 2}
    # DCG@2 = 1 + 3/log2(3); IDCG@2 = 3 + 2/log2(3)
    assert ndcg_at_k(["a", "b", "c"], judgments, 2) == pytest.approx(0.6787622, abs=1e-7)
    assert ndcg_at_k(["b", "c", "a"], judgments, 10) == pytest.approx(1.0)


def test_perfect_and_empty_rankings():
    assert ndcg_at_k(["d1", "d2"], GRADED, 10) == pytest.approx(1.0)
    assert ndcg_at_k([], GRADED, 10) == 0.0
    assert recall_at_k([], GRADED, 10) == 0.0
    assert mrr_at_k([], GRADED, 10) == 0.0


def test_recall_counts_only_positive_judgments():
    assert recall_at_k(RANKING, GRADED, 2) == pytest.approx(0.5)
    assert recall_at_k(RANKING, GRADED, 4) == pytest.approx(1.0)
    assert recall_at_k(["d3"], GRADED, 10) == 0.0


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_within_k():
    assert mrr_at_k(RANKING, GRADED, 10) == pytest.approx(0.5)
    assert mrr_at_k(RANKING, GRADED, 1) == 0.0
    assert mrr_at_k(["x", "y", "z", "d2"], GRADED, 10) == pytest.approx(0.25)


def test_a_query_judged_only_non_relevant_scores_zero():
    zeros = {"d1": 0, "d2": 0}
    for metric in (ndcg_at_k, recall_at_k, mrr_at_k):
        assert metric(["d1", "d2"], zeros, 10) == 0.0


def test_negative_judgments_are_not_relevant_and_have_no_gain():
    judgments = {"bad": -1, "good": 1}
    assert ndcg_at_k(["bad", "good"], judgments, 10) == pytest.approx(1 / math.log2(3))
    assert recall_at_k(["bad"], judgments, 10) == 0.0


def test_a_document_ranked_twice_is_refused():
    with pytest.raises(ValueError, match="more than once"):
        ndcg_at_k(["d1", "d1"], GRADED, 10)


def test_evaluate_run_averages_over_judged_queries_only():
    qrels = {
        "q1": {"a": 1},  # found first: 1.0 everywhere
        "q2": {"b": 1, "c": 0},  # found at rank 2: nDCG 1/log2(3), MRR 1/2
        "q3": {"d": 0},  # judged, nothing relevant: 0, and counted
        "q4": {"e": 1},  # judged but absent from the run: 0, and counted
    }
    run = {"q1": ["a", "x"], "q2": ["c", "b"], "q3": ["d"], "unjudged": ["a"]}
    scores = evaluate_run(qrels, run, ["ndcg@10", "recall@1", "mrr@10"])
    assert scores.queries == 4
    assert set(scores.per_query) == {"q1", "q2", "q3", "q4"}
    assert scores.means["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 4)
    assert scores.means["recall@1"] == pytest.approx(1 / 4)
    assert scores.means["mrr@10"] == pytest.approx(1.5 / 4)
    assert scores.per_query["q2"]["mrr@10"] == pytest.approx(0.5)


def test_evaluate_run_with_no_judged_query():
    assert evaluate_run({}, {"q": ["a"]}).means["ndcg@10"] == 0.0


@pytest.mark.parametrize("name", ["ndcg", "ndcg@", "ndcg@0", "map@10", "recall@x"])
def test_unknown_metric_names(name):
    with pytest.raises(ValueError, match="unknown metric"):
        parse_metric(name)


def test_percentile_interpolates_and_is_none_without_values():
    assert percentile([10.0, 20.0, 30.0, 40.0], 50) == pytest.approx(25.0)
    assert percentile([1.0] * 19 + [100.0], 95) == pytest.approx(5.95)
    assert percentile([], 95) is None
