"""The circuit breaker on a fake clock, the price table, and the providers' configuration errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from assistant.answering.llm.client import (
    CircuitBreaker,
    LlmConfig,
    LlmUnavailable,
    Provider,
    breaker_for,
    chat_model_for,
    estimated_cost,
)
from config.outbound import GuardedTransport
from conftest import REPO


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failures=3, reset_after_s=30.0, clock=clock)


def _open(breaker):
    for _ in range(breaker.failures):
        assert breaker.allow()
        breaker.failure()


def test_the_circuit_opens_after_n_failures_in_a_row(breaker):
    assert breaker.allow() and not breaker.is_open
    breaker.failure()
    breaker.failure()
    assert breaker.allow() and not breaker.is_open  # two failures: still closed
    breaker.failure()
    assert breaker.is_open and not breaker.allow() and not breaker.allow()


def test_a_success_between_failures_starts_the_count_again(breaker):
    for _ in range(2):
        breaker.failure()
    breaker.success()
    for _ in range(2):
        breaker.failure()
    assert breaker.allow() and not breaker.is_open


def test_after_reset_one_trial_call_goes_through_and_its_success_closes_the_circuit(breaker, clock):
    _open(breaker)
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.1  # reset_after_s since it opened: half-open
    assert breaker.allow()
    assert not breaker.allow()  # only one trial: the others are still refused
    breaker.success()
    assert not breaker.is_open and breaker.allow() and breaker.allow()
    breaker.failure()
    breaker.failure()
    assert breaker.allow()  # the count started again at the success


def test_a_failed_trial_opens_the_circuit_for_another_full_period(breaker, clock):
    _open(breaker)
    clock.now += 30.0
    assert breaker.allow()
    breaker.failure()  # one failure is enough when half-open
    assert breaker.is_open and not breaker.allow()
    clock.now += 29.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()


def test_every_breaker_of_one_endpoint_counts_the_same_failures(clock):
    """Two processes' breakers of one endpoint: two failures in one and one in the other open both."""
    web, worker = (CircuitBreaker("endpoint-a", clock=clock) for _ in range(2))
    other = CircuitBreaker("endpoint-b", clock=clock)
    web.failure()
    web.failure()
    worker.failure()
    assert web.is_open and worker.is_open and not web.allow() and not worker.allow()
    assert other.allow() and not other.is_open


@pytest.mark.django_db
def test_a_breaker_opened_in_another_process_is_open_here():
    """The state is in the cache backend (the folder here, Redis in CI), not in a process's memory."""
    script = (
        "import django; django.setup()\n"
        "from assistant.answering.llm.client import CircuitBreaker\n"
        "b = CircuitBreaker('endpoint-shared')\n"
        "for _ in range(3): b.failure()\n"
        "print(b.is_open)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
    here = CircuitBreaker("endpoint-shared")
    assert here.is_open and not here.allow()
    here_later = CircuitBreaker("endpoint-shared", clock=lambda: time.time() + 30.0)
    assert here_later.allow()  # the one trial call, after the reset period
    here_later.success()
    assert not here.is_open


def test_a_cache_that_cannot_be_reached_lets_calls_through(clock):
    class Down:
        def __getattr__(self, name):
            raise ConnectionError("cache down")

    breaker = CircuitBreaker("endpoint-c", clock=clock, cache=Down())
    breaker.failure()
    breaker.success()
    assert breaker.allow() and not breaker.is_open


def test_each_endpoint_and_model_has_its_own_breaker():
    one = LlmConfig(provider=Provider.OPENAI, model="a", base_url="http://one/v1")
    assert breaker_for(one) is breaker_for(
        LlmConfig(provider=Provider.OPENAI, model="a", base_url="http://one/v1")
    )
    assert breaker_for(one) is not breaker_for(
        LlmConfig(provider=Provider.OPENAI, model="b", base_url="http://one/v1")
    )
    assert breaker_for(one) is not breaker_for(
        LlmConfig(provider=Provider.OPENAI, model="a", base_url="http://two/v1")
    )


def test_estimated_cost_uses_the_price_per_million_tokens_and_is_zero_for_unpriced_models():
    prices = {"gpt-x": [0.5, 1.5]}
    assert estimated_cost("gpt-x", 1000, 2000, prices) == pytest.approx(0.0035)
    assert estimated_cost("gpt-x", 0, 0, prices) == 0.0
    assert estimated_cost("local-model", 1_000_000, 1_000_000, prices) == 0.0
    assert estimated_cost("gpt-x", 1_000_000, 1_000_000, {}) == 0.0


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (LlmConfig(provider=Provider.OPENAI, model="m"), "Only http and https"),
        (
            LlmConfig(provider=Provider.OPENAI, model="m", base_url="file:///etc/passwd"),
            "Only http and https",
        ),
        (LlmConfig(provider=Provider.OPENAI, model="m", unavailable="no key here"), "no key here"),
        (LlmConfig(provider=Provider.EXTRACTIVE, model=""), "extractive answers only"),
        (LlmConfig(provider=Provider.LOCAL, model="no-such-model"), "Unknown local model 'no-such-model'"),
    ],
)
def test_a_provider_that_cannot_be_built_says_why(config, reason, tmp_path):
    with pytest.raises(LlmUnavailable, match=re.escape(reason)):
        chat_model_for(config, models_dir=tmp_path)


def test_the_openai_model_gets_the_configured_patience_the_connections_key_and_a_guarded_client(tmp_path):
    config = LlmConfig(
        provider=Provider.OPENAI,
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key="sk-from-env",
        timeout_s=2.5,
        max_retries=0,
        max_tokens=42,
    )
    model = chat_model_for(config, models_dir=tmp_path)
    assert model.openai_api_key.get_secret_value() == "sk-from-env"
    assert (model.request_timeout, model.max_retries, model.max_tokens) == (2.5, 0, 42)
    assert model.temperature == 0.0 and model.stream_usage
    assert (
        isinstance(model.http_client._transport, GuardedTransport) and not model.http_client.follow_redirects
    )
