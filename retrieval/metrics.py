"""Ranking metrics as BEIR reports them: nDCG@k, recall@k (pytrec_eval's ``ndcg_cut`` and
``recall``) and MRR@k (BEIR's own), computed here so evaluation needs no C extension.

Conventions, chosen to give the numbers pytrec_eval and BEIR give:

- ``qrels`` maps a query id to its judgments ``{doc id: relevance}``. A document is relevant when
  its relevance is above 0; a row with 0 is a judged non-relevant document. nDCG uses the
  relevance itself as the gain (linear, as trec_eval does; a negative judgment counts as 0).
- A ranking is the list of document ids best first. Its order is the truth: trec_eval re-sorts a
  run by score and breaks ties by document id, which only matters for ties, and a ranking has none.
- Every query in ``qrels`` is scored and averaged, as pytrec_eval scores every judged query of a
  run. A judged query with no relevant document (all its rows are 0) scores 0 on every metric, as
  in trec_eval (its ideal DCG is 0, so nDCG is defined as 0); a judged query missing from the run
  also scores 0 (an empty ranking). Queries without judgments are not scored at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Judgments = Mapping[str, int]
Qrels = Mapping[str, Judgments]
Run = Mapping[str, Sequence[str]]
MetricFn = Callable[[Sequence[str], Judgments, int], float]

DEFAULT_METRICS = ("ndcg@10", "recall@5", "recall@10", "recall@100", "mrr@10")


def _check_ranking(ranking: Sequence[str]) -> None:
    # A run is a set of (doc, score) pairs in trec_eval: a document cannot be ranked twice.
    if len(set(ranking)) != len(ranking):
        raise ValueError("a ranking lists a document more than once")


def _gain(relevance: int) -> float:
    return float(max(relevance, 0))


def _dcg(gains: Sequence[float]) -> float:
    # Rank r (1-based) is discounted by log2(r + 1): the first document is not discounted.
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """nDCG of the first ``k`` documents; the ideal ranking is the query's judged gains, sorted."""
    _check_ranking(ranking)
    ideal = _dcg(sorted((_gain(r) for r in judgments.values()), reverse=True)[:k])
    if ideal <= 0.0:
        return 0.0
    return _dcg([_gain(judgments.get(doc, 0)) for doc in ranking[:k]]) / ideal


def recall_at_k(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """Share of the query's relevant documents (relevance > 0) found in the first ``k``."""
    _check_ranking(ranking)
    relevant = {doc for doc, relevance in judgments.items() if relevance > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judgments: Judgments, k: int) -> float:
    """1 / rank of the first relevant document within the first ``k``, else 0."""
    _check_ranking(ranking)
    for rank, doc in enumerate(ranking[:k], start=1):
        if judgments.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


METRIC_FUNCTIONS: dict[str, MetricFn] = {"ndcg": ndcg_at_k, "recall": recall_at_k, "mrr": mrr_at_k}


def parse_metric(name: str) -> tuple[MetricFn, int]:
    """``"ndcg@10"`` -> (``ndcg_at_k``, 10); ``ValueError`` for an unknown name or a bad cutoff."""
    kind, _, cutoff = name.partition("@")
    if kind not in METRIC_FUNCTIONS or not cutoff.isdigit() or int(cutoff) < 1:
        raise ValueError(f"unknown metric {name!r} (expected e.g. ndcg@10, recall@100, mrr@10)")
    return METRIC_FUNCTIONS[kind], int(cutoff)


@dataclass(frozen=True, slots=True)
class RunScores:
    """Each metric averaged over the judged queries, and each query's own scores."""

    means: dict[str, float]
    per_query: dict[str, dict[str, float]]

    @property
    def queries(self) -> int:
        return len(self.per_query)


def evaluate_run(qrels: Qrels, run: Run, metrics: Sequence[str] = DEFAULT_METRICS) -> RunScores:
    """Score every query of ``qrels`` on ``metrics`` (see the module's conventions)."""
    parsed = {name: parse_metric(name) for name in metrics}
    per_query = {
        query_id: {name: fn(run.get(query_id, ()), judgments, k) for name, (fn, k) in parsed.items()}
        for query_id, judgments in qrels.items()
    }
    count = len(per_query)
    means = {
        name: (sum(scores[name] for scores in per_query.values()) / count if count else 0.0)
        for name in metrics
    }
    return RunScores(means=means, per_query=per_query)


def percentile(values: Sequence[float], point: float) -> float | None:
    """The ``point``-th percentile (linear interpolation, numpy's default); None for no values,
    so a report says "not measured" rather than NaN, which JSON cannot carry."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), point))
