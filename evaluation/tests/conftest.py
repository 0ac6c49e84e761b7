from __future__ import annotations

# The answer path's fixtures, for the evaluation's tests that turn its checks on.
from assistant.tests.conftest import use_answerability  # noqa: F401
