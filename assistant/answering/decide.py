"""The answerability check in the answer path: before any LLM call, decide whether the evidence
found can answer the question; when it cannot, the answer is "not in your documents".

The model is ``retrieval.answerability``'s (features from what search computed, a logistic
regression stored in ``retrieval/answerability.json``), loaded once per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import numpy as np
from django.conf import settings

from assistant.answering.compose import Evidence
from assistant.answering.search import SearchResults
from assistant.answering.trace import ms_since
from retrieval.answerability import (
    MODEL_FILE,
    AnswerabilityModel,
    AnswerabilityModelError,
    Verdict,
    features,
)

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_model: AnswerabilityModel | None = None


def get_answerability_model() -> AnswerabilityModel:
    """The process's answerability model (``retrieval/answerability.json``), read once."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = AnswerabilityModel.load(MODEL_FILE)
    return _model


def sentence_best(question_vector: np.ndarray | None, evidence: Sequence[Evidence]) -> float:
    """The best cosine of an evidence sentence with the question (the vectors selection computed)."""
    if question_vector is None:
        return 0.0
    scores = [
        float((item.vectors @ question_vector).max())
        for item in evidence
        if item.vectors is not None and len(item.vectors)
    ]
    return max(scores, default=0.0)


def answerability_verdict(
    results: SearchResults, evidence: Sequence[Evidence], *, relevance: bool = False
) -> Verdict | None:
    """The check's decision on this evidence, or None when it does not run (turned off, no signals,
    no usable model: the question then goes on to the LLM, as without the check)."""
    if not settings.TESSERA["ANSWERABILITY"] or results.signals is None:
        return None
    try:
        model = get_answerability_model()
    except AnswerabilityModelError:
        logger.exception("answerability model unusable: answering without the check")
        return None
    x = features(results.signals, sentence_best=sentence_best(results.query_vector, evidence))
    threshold = settings.TESSERA["ANSWERABILITY_THRESHOLD"]
    if relevance and model.relevance_threshold is not None:
        # knowledge-base relevance overrules a router that is sure of a non-question (an unsure one
        # already sends the message to the documents): its own bar, above what unrelated requests reach
        threshold = model.relevance_threshold
    return model.verdict(x, threshold)


def evidence_unanswerable(
    results: SearchResults, evidence: Sequence[Evidence], timings: dict[str, float]
) -> str:
    """Why the evidence cannot answer the question ("" when it may): the hook of ``answer_stream``.
    Its time goes to ``timings["answerability"]``; an abstention's reason records the score."""
    if not settings.TESSERA["ANSWERABILITY"]:
        return ""
    started = time.perf_counter()
    verdict = answerability_verdict(results, evidence)
    timings["answerability"] = ms_since(started)
    if verdict is None or not verdict.abstain:
        return ""
    return f"answerability {verdict.probability:.3f} < threshold {verdict.threshold:.3f}"
