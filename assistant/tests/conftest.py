from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assistant.tests.openai_server import OpenAiServer


@pytest.fixture
def openai_server() -> Iterator[OpenAiServer]:
    """A running OpenAI-compatible server on loopback (stopped after the test)."""
    server = OpenAiServer().start()
    yield server
    server.stop()


@pytest.fixture
def openai_connection(openai_server: OpenAiServer, settings: Any) -> Callable[..., str]:
    """Define the loopback server as one of the operator's LLM connections (its host allowed, as an
    operator allows an LLM server on this machine); returns the connection's name."""

    def define(name: str = "test-server", **spec: Any) -> str:
        connections = {
            **settings.TESSERA["LLM_CONNECTIONS"],
            name: {"base_url": openai_server.base_url, **spec},
        }
        settings.TESSERA = {
            **settings.TESSERA,
            "LLM_CONNECTIONS": connections,
            "OUTBOUND_ALLOWED_HOSTS": ["127.0.0.1"],
        }
        return name

    return define


# A model that looks only at the idf-weighted coverage of the question's terms by the evidence:
# p(answerable) = sigmoid(10 * coverage - 5), abstaining below 0.5 (coverage under one half).
COVERAGE_ONLY = {
    "mean": (0.0,) * 9,
    "scale": (1.0,) * 9,
    "coef": (0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 0.0),
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
        monkeypatch.setattr("assistant.answering.decide.get_answerability_model", lambda: model)
        monkeypatch.setattr("evaluation.answerability.get_answerability_model", lambda: model)
        return model

    return install


@pytest.fixture
def intent_training(settings, tmp_path, monkeypatch):
    """Train tenant routers fast: the tiny default set of ``training.BASE_EXAMPLES``, the topic
    embedder, models under this test's folder; the embedder is returned."""
    from assistant.routing import training
    from assistant.routing.tenant_router import reset_tenant_routers
    from assistant.tests.intents import TopicEmbedder, write_base_examples
    from retrieval.intent_model import TrainingConfig

    settings.TESSERA = {**settings.TESSERA, "MODELS_DIR": str(tmp_path / "models")}
    monkeypatch.setattr(training, "BASE_EXAMPLES", write_base_examples(tmp_path / "base.jsonl"))
    monkeypatch.setattr(training, "TRAINING_CONFIG", TrainingConfig(min_steps=200))
    embedder = TopicEmbedder()
    monkeypatch.setattr("assistant.routing.training.get_embedder", lambda: embedder)
    monkeypatch.setattr("assistant.routing.tenant_router.get_embedder", lambda: embedder)
    reset_tenant_routers()
    yield embedder
    reset_tenant_routers()
