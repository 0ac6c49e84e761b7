from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant.tests.openai_server import OpenAiServer


@pytest.fixture
def openai_server() -> Iterator[OpenAiServer]:
    """A running OpenAI-compatible server on loopback (stopped after the test)."""
    server = OpenAiServer().start()
    yield server
    server.stop()


# A model that looks only at the idf-weighted coverage of the question's terms by the evidence:
# p(answerable) = sigmoid(10 * coverage - 5), abstaining below 0.5 (coverage under one half).
COVERAGE_ONLY = {
    "mean": (0.0,) * 7,
    "scale": (1.0,) * 7,
    "coef": (0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0),
    "intercept": -5.0,
    "threshold": 0.5,
}


@pytest.fixture
def use_answerability(settings, monkeypatch):
    """Turn the answerability check on with ``model`` (default: the coverage-only model above)."""

    def install(model=None):
        from retrieval.answerability import AnswerabilityModel

        model = model or AnswerabilityModel(**COVERAGE_ONLY)
        settings.TESSERA = {**settings.TESSERA, "ANSWERABILITY": True}
        monkeypatch.setattr("assistant.answerability.get_answerability_model", lambda: model)
        monkeypatch.setattr("assistant.answerability_evaluation.get_answerability_model", lambda: model)
        return model

    return install
