"""OpenAI's own Python client and LangChain's ChatOpenAI against a live Tessera, changing only
``base_url`` and ``api_key``: models, completions streamed and not, citations in the extra field,
and a revoked key raising the client's own authentication error."""

from __future__ import annotations

import openai
import pytest
from langchain_openai import ChatOpenAI

from assistant.models import AnswerKind, Message
from assistant.tests.fakes import scripted
from governance import services as governance_services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = "Employees get sixteen weeks of paid parental leave [1]."
QUESTION = "How long is parental leave?"


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    return tenant


@pytest.fixture
def key(tenant):
    return governance_services.api_key_create(
        tenant=tenant, name="integration", scopes=["ask"], actor=Actor()
    )


def _client(live_server, raw_key):
    return openai.OpenAI(base_url=live_server.url + "/v1", api_key=raw_key, max_retries=0, timeout=60)


def test_the_openai_client_lists_models_and_gets_grounded_answers_with_citations(
    live_server, tenant, key, use_llm
):
    use_llm(scripted(ANSWER, ANSWER))
    client = _client(live_server, key[1])

    assert [(m.id, m.owned_by) for m in client.models.list()] == [("tessera", tenant.slug)]
    assert client.models.retrieve("tessera").id == "tessera"
    with pytest.raises(openai.NotFoundError) as missing:
        client.models.retrieve("gpt-4o")
    assert missing.value.code == "model_not_found"

    completion = client.chat.completions.create(
        model="tessera",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        temperature=0,
    )
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].finish_reason == "stop"
    citations = completion.model_extra["citations"]
    assert citations[0]["marker"] == 1 and citations[0]["title"] == "Employee handbook"
    answer = Message.objects.get(pk=completion.model_extra["tessera"]["message_id"])
    assert answer.kind == AnswerKind.ANSWERED and answer.text == ANSWER

    stream = client.chat.completions.create(
        model="tessera",
        messages=[{"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    assert final.model_extra["citations"][0]["title"] == "Employee handbook"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert Message.objects.filter(tenant=tenant, role="assistant").count() == 2
    routes = set(
        AuditEvent.objects.filter(action="api.call", actor_api_key=key[0]).values_list("target_id", flat=True)
    )
    assert routes == {"/v1/models", "/v1/models/<str:model_id>", "/v1/chat/completions"}


def test_a_revoked_key_raises_the_clients_authentication_error(live_server, tenant, key):
    client = _client(live_server, key[1])
    governance_services.api_key_revoke(api_key=key[0], actor=Actor())
    with pytest.raises(openai.AuthenticationError) as refused:
        client.chat.completions.create(model="tessera", messages=[{"role": "user", "content": QUESTION}])
    assert "revoked" in refused.value.message
    with pytest.raises(openai.BadRequestError):  # a bad request is the client's own 400 error too
        _client(
            live_server,
            governance_services.api_key_create(tenant=tenant, name="k", scopes=["ask"], actor=Actor())[1],
        ).chat.completions.create(model="tessera", messages=[{"role": "system", "content": "no question"}])
    assert not Message.objects.exists()


def test_langchain_chat_openai_invokes_and_streams(live_server, tenant, key, use_llm):
    use_llm(scripted(ANSWER, ANSWER))
    chat = ChatOpenAI(base_url=live_server.url + "/v1", api_key=key[1], model="tessera", max_retries=0)

    reply = chat.invoke(QUESTION)
    assert reply.content == ANSWER
    streamed = list(chat.stream(QUESTION))
    assert "".join(str(chunk.content) for chunk in streamed) == ANSWER
    assert len([chunk for chunk in streamed if chunk.content]) > 1  # it did stream
    answers = Message.objects.filter(tenant=tenant, role="assistant")
    assert [(a.text, a.citations.count() > 0) for a in answers] == [(ANSWER, True), (ANSWER, True)]


@pytest.mark.slow
def test_the_real_embedder_and_local_model_answer_through_the_openai_client(
    live_server, settings, real_embedder
):
    settings.TESSERA = {
        **settings.TESSERA,
        "LLM_PROVIDER": "local",
        "LLM_MODEL": "qwen2.5-coder-1.5b-instruct-q4_k_m",
        "LLM_MAX_TOKENS": 48,
        "LLM_THREADS": 2,
        "LLM_TIMEOUT_S": 120.0,
    }
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    raw = governance_services.api_key_create(tenant=tenant, name="k", scopes=["ask"], actor=Actor())[1]
    client = _client(live_server, raw)

    stream = client.chat.completions.create(
        model="tessera",
        messages=[{"role": "user", "content": "How long is paid parental leave?"}],
        stream=True,
    )
    chunks = list(stream)
    final = next(c for c in chunks if c.choices and c.choices[0].finish_reason == "stop")
    answer = Message.objects.get(pk=final.model_extra["tessera"]["message_id"])
    assert answer.kind == AnswerKind.ANSWERED and answer.llm_called, answer.text
    assert "sixteen weeks" in answer.text.lower() or "16 weeks" in answer.text.lower()
    assert final.model_extra["citations"][0]["heading_path"][-1] == "Parental leave"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed and final.model_extra["tessera"]["answer"] == answer.text
