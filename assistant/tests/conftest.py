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
