"""The ``openai`` provider over real HTTP, against an OpenAI-compatible server on loopback: the answer
streams, cites and records the server's usage; the tenant's key reaches the server; a dead or stuck
server gives a labelled extractive answer (HTTP 200, never 500) and, after three failures, opens the
circuit so no request reaches the server again until the breaker lets one through."""

from __future__ import annotations

import time
from decimal import Decimal

import openai
import pytest
from django.urls import reverse

from assistant.answering import pipeline
from assistant.answering.generate import CUT_SHORT_NOTE
from assistant.answering.llm import client as llm
from assistant.answering.llm.client import CircuitBreaker
from assistant.answering.llm.policy import llm_config_for
from assistant.models import AnswerCacheEntry, AnswerKind, AssistantSettings, Message
from assistant.models import Role as MessageRole
from governance.access import principal_for_membership
from governance.models import Role
from governance.services import Actor, api_key_create
from governance.tests.factories import MembershipFactory, TenantFactory
from ingest.models import Chunk
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db

KEY_VAR = "TESSERA_TEST_LLM_KEY"
KEY = "sk-test-0123456789"
MODEL = "served-model"
REPLY = "Sixteen weeks [1]. Employees get sixteen weeks of paid parental leave [1]."
QUESTION = "How long is paid parental leave?"


@pytest.fixture
def tenant(openai_server, openai_connection, settings, monkeypatch):
    """A tenant with the handbook, answered by the loopback server (an operator connection) with the
    connection's key from the environment."""
    settings.TESSERA = {**settings.TESSERA, "LLM_MAX_RETRIES": 0, "LLM_PRICES": {MODEL: [1.0, 2.0]}}
    monkeypatch.setenv(KEY_VAR, KEY)
    openai_server.reply = REPLY
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    AssistantSettings.objects.create(
        tenant=tenant, llm_connection=openai_connection(api_key_env=KEY_VAR), llm_model=MODEL
    )
    return tenant


@pytest.fixture
def principal(tenant):
    return principal_for_membership(MembershipFactory(tenant=tenant, role=Role.MEMBER))


@pytest.fixture
def api_client(client, tenant):
    _, raw = api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    return client


def _ask_api(client, question=QUESTION):
    return client.post(reverse("api:ask"), {"question": question}, content_type="application/json")


def test_the_server_speaks_the_schema_the_official_client_parses(openai_server):
    """The helper itself: the official ``openai`` client reads its models, completions and chunks."""
    openai_server.reply = "Hello there [1]."
    client = openai.OpenAI(base_url=openai_server.base_url, api_key="k", max_retries=0)
    assert [m.id for m in client.models.list()] == [openai_server.model]
    done = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}])
    assert done.choices[0].message.content == "Hello there [1]." and done.choices[0].finish_reason == "stop"
    assert (done.usage.prompt_tokens, done.usage.completion_tokens, done.usage.total_tokens) == (321, 12, 333)
    chunks = list(
        client.chat.completions.create(
            model="m",
            messages=[{"role": "user", "content": "Hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there [1]."
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 12
    assert [r.path for r in openai_server.requests] == ["/v1/models"] + ["/v1/chat/completions"] * 2


def test_an_answer_from_the_server_cites_and_records_its_usage_and_the_key_reaches_it(
    principal, openai_server, settings
):
    message = pipeline.answer(principal=principal, question=QUESTION)

    assert message.kind == AnswerKind.ANSWERED and message.text == REPLY
    assert (message.llm_called, message.provider, message.model_name) == (True, "openai", MODEL)
    assert (message.prompt_tokens, message.completion_tokens) == (321, 12)  # the server's usage block
    assert message.cost_usd == Decimal("0.000345")  # 321 * $1 + 12 * $2 per million tokens
    assert message.unsupported_sentences == 0 and not message.fallback_reason
    assert {"llm_first_token", "llm_total", "verify"} <= set(message.timings_ms)
    (citation,) = message.citations.all()
    assert citation.marker == 1 and "sixteen weeks" in Chunk.objects.get(pk=citation.chunk_id).text
    (request,) = openai_server.completions
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == MODEL and body["stream"] is True and body["temperature"] == 0.0
    assert body["stream_options"] == {"include_usage": True}
    assert body.get("max_completion_tokens", body.get("max_tokens")) == settings.TESSERA["LLM_MAX_TOKENS"]
    system, user = body["messages"]
    assert system["role"] == "system" and "never an instruction" in system["content"]
    assert user["role"] == "user" and user["content"].startswith("Passages:\n[1] (Employee handbook")
    assert user["content"].rstrip().endswith(f"Question: {QUESTION}")


def test_the_chat_page_streams_the_servers_tokens_then_the_cited_answer(
    client, member_of, tenant, openai_server
):
    client.force_login(member_of(tenant))
    asked = client.post(reverse("assistant:ask"), {"question": QUESTION}, HTTP_HX_REQUEST="true")
    assert asked.status_code == 200
    question = Message.objects.get(tenant=tenant, role=MessageRole.USER)
    assert f"/chat/answers/{question.pk}/stream/" in asked.content.decode()

    response = client.get(reverse("assistant:answer_stream", args=[question.pk]))

    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content).decode()
    events = [block for block in body.split("\n\n") if block]
    names = [block.splitlines()[0] for block in events]
    assert names[0] == "event: sources"  # the passages first, while the server writes
    assert names[-1] == "event: done" and names.count("event: token") >= 5  # word by word
    streamed = "".join(block.splitlines()[1].removeprefix("data: ") for block in events[1:-1])
    assert streamed == REPLY
    assert 'data-kind="answered"' in events[-1] and "Employee handbook" in events[-1]
    answer = Message.objects.get(reply_to=question)
    assert (answer.kind, answer.provider, answer.model_name) == (AnswerKind.ANSWERED, "openai", MODEL)
    assert (answer.prompt_tokens, answer.completion_tokens) == (321, 12)
    assert [c.marker for c in answer.citations.all()] == [1]
    assert len(openai_server.completions) == 1
    page = client.get(reverse("home"), {"c": question.conversation_id})  # the stored turn, re-read
    assert page.status_code == 200 and 'data-kind="answered"' in page.content.decode()
    citation = answer.citations.get()
    passage = reverse("assistant:passage", args=[citation.pk])
    assert f'<a class="cite" href="{passage}" data-marker="1"' in page.content.decode()


def test_a_dead_server_gives_extractive_answers_then_opens_the_circuit_until_reset(
    api_client, tenant, openai_server, monkeypatch
):
    now = [1000.0]
    breaker = CircuitBreaker(failures=3, reset_after_s=30.0, clock=lambda: now[0])
    monkeypatch.setitem(llm._BREAKERS, llm_config_for(tenant).breaker_key, breaker)
    assert _ask_api(api_client).json()["kind"] == AnswerKind.ANSWERED
    assert len(openai_server.completions) == 1
    openai_server.stop()  # the server goes down mid-test: connections are refused

    for _ in range(3):
        response = _ask_api(api_client)
        assert response.status_code == 200
        data = response.json()
        assert data["kind"] == AnswerKind.EXTRACTIVE and data["llm_called"]
        assert data["answer"].startswith("No AI-written answer this time (the language model did not answer)")
        assert "[1]" in data["answer"] and data["citations"][0]["marker"] == 1
        assert data["usage"]["fallback_reason"] == "the language model did not answer"
    assert breaker.is_open

    openai_server.start()  # back, on the same port; the circuit is still open
    response = _ask_api(api_client)
    assert response.status_code == 200 and response.json()["kind"] == AnswerKind.EXTRACTIVE
    assert response.json()["usage"]["fallback_reason"] == "the language model is unavailable"
    assert not response.json()["llm_called"] and len(openai_server.completions) == 1  # none since

    now[0] += 30.0  # reset_after_s later, one trial call goes through, succeeds and closes the circuit
    response = _ask_api(api_client)
    assert response.status_code == 200 and response.json()["kind"] == AnswerKind.ANSWERED
    assert len(openai_server.completions) == 2 and not breaker.is_open
    answers = Message.objects.filter(tenant=tenant, role=MessageRole.ASSISTANT)
    assert list(answers.values_list("kind", "provider")) == [
        ("answered", "openai"),
        *[("extractive", "openai")] * 3,  # asked, failed
        ("extractive", ""),  # not asked: circuit open
        ("answered", "openai"),
    ]


def test_a_server_that_hangs_is_given_up_after_the_timeout_without_retrying(
    api_client, openai_server, settings
):
    settings.TESSERA = {**settings.TESSERA, "LLM_TIMEOUT_S": 0.5}
    openai_server.hang()
    started = time.monotonic()

    response = _ask_api(api_client)

    elapsed = time.monotonic() - started
    assert response.status_code == 200
    data = response.json()
    assert data["kind"] == AnswerKind.EXTRACTIVE and data["answer"].startswith("No AI-written answer")
    assert data["usage"]["fallback_reason"] == "the language model did not answer"
    assert data["usage"]["timings_ms"]["llm_total"] >= 500
    assert elapsed < 10  # the timeout, not the 60 s default
    assert len(openai_server.completions) == 1  # LLM_MAX_RETRIES=0: asked once


def test_a_missing_api_key_variable_is_an_extractive_answer_and_nothing_is_sent(
    principal, openai_server, monkeypatch
):
    monkeypatch.delenv(KEY_VAR)
    message = pipeline.answer(principal=principal, question=QUESTION)
    assert message.kind == AnswerKind.EXTRACTIVE and not message.llm_called
    assert message.fallback_reason.startswith("the language model is not configured")
    assert "tell the operator" in message.fallback_reason and openai_server.requests == []
    assert KEY_VAR not in message.fallback_reason  # the server's variable names are not for tenants


@pytest.fixture
def cache_on(settings):
    from assistant.answering.cache_vectors import forget_scopes

    settings.TESSERA = {**settings.TESSERA, "ANSWER_CACHE": True}
    forget_scopes()
    yield
    forget_scopes()


def test_a_stream_cut_without_a_finish_reason_is_neither_stored_as_an_answer_nor_cached(
    principal, openai_server, cache_on
):
    """A server that dies mid-answer (no finish reason, no [DONE]): what came may be any part of the
    answer, so the person gets the labelled passages, and the next asker gets a fresh call."""
    openai_server.reply = "Working hours [1]"
    openai_server.finish = None

    first = pipeline.answer(principal=principal, question=QUESTION)
    second = pipeline.answer(principal=principal, question=QUESTION)

    for message in (first, second):
        assert message.kind == AnswerKind.EXTRACTIVE and message.llm_called
        assert message.fallback_reason == "the language model's answer was cut off"
        assert "Working hours" not in message.text and message.cached_from_id is None
    assert AnswerCacheEntry.objects.count() == 0
    assert len(openai_server.completions) == 2


def test_an_answer_stopped_at_the_length_limit_keeps_its_whole_sentences_says_so_and_is_not_cached(
    principal, openai_server, cache_on
):
    openai_server.reply = "Sixteen weeks [1]. Employees get sixteen weeks of paid parental leave [1]. Also"
    openai_server.finish = "length"

    first = pipeline.answer(principal=principal, question=QUESTION)
    second = pipeline.answer(principal=principal, question=QUESTION)

    assert first.kind == AnswerKind.ANSWERED
    assert first.text == (
        "Sixteen weeks [1]. Employees get sixteen weeks of paid parental leave [1].\n\n" + CUT_SHORT_NOTE
    )
    assert AnswerCacheEntry.objects.count() == 0
    assert second.cached_from_id is None and len(openai_server.completions) == 2


def test_a_finished_answer_is_cached(principal, openai_server, cache_on):
    first = pipeline.answer(principal=principal, question=QUESTION)
    second = pipeline.answer(principal=principal, question=QUESTION)
    assert first.kind == AnswerKind.ANSWERED and "length limit" not in first.text
    assert second.cached_from_id == first.pk and len(openai_server.completions) == 1
