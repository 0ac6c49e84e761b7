"""Settings for the test suite: the real settings, with a throwaway secret and a fast hasher.

Everything else (database, broker) still comes from the environment, so the same suite runs on
the embedded default and, in CI, on PostgreSQL and Redis.
"""

import os
from pathlib import Path

# Tests never share a data directory (broker folders, indexes) with a running instance.
os.environ.setdefault("TESSERA_DATA_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test"))
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-any-real-deployment-0123456789")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Unit tests use the deterministic fake embedder; tests of the real path ask for the real one.
TESSERA = {**TESSERA, "EMBEDDER": os.environ.get("TESSERA_EMBEDDER", "fake")}  # noqa: F405
# Unit tests answer without an LLM unless they ask for one (a fake chat model, or the real local
# model in the tests marked slow).
TESSERA["LLM_PROVIDER"] = os.environ.get("TESSERA_LLM_PROVIDER", "extractive")
# Every message is a question unless a test routes it (the `use_router` fixture, or the real router
# in the tests marked slow): a router trained on the fake embedder's vectors would route at random.
TESSERA["INTENT_ROUTING"] = os.environ.get("TESSERA_INTENT_ROUTING", "") == "1"
# Every question reaches the evidence and the LLM unless a test turns the answerability check on (its
# model is fitted on the real embedder's scores, which the fake embedder does not reproduce).
TESSERA["ANSWERABILITY"] = os.environ.get("TESSERA_ANSWERABILITY", "") == "1"
# The answer cache is off unless a test turns it on (assistant/tests/test_answer_cache.py): tests that
# ask the same question twice expect the LLM to be asked twice.
TESSERA["ANSWER_CACHE"] = os.environ.get("TESSERA_ANSWER_CACHE", "") == "1"
