from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from assistant.llm import reset_breakers


@pytest.fixture(autouse=True)
def fresh_breakers() -> Iterator[None]:
    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture
def use_llm(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Any]:
    """Answer with ``model`` (a LangChain chat model) as the tenant's LLM."""

    def install(model: Any) -> Any:
        settings.TESSERA = {**settings.TESSERA, "LLM_PROVIDER": "local", "LLM_MODEL": "test-model"}
        monkeypatch.setattr("assistant.services.chat_model_for", lambda config, models_dir: model)
        return model

    return install
