"""Ask (JSON and Server-Sent Events) and search over the REST API, with scopes, visibility and limits."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from assistant.api.ask import CitationSerializer, UsageSerializer, answer_json
from assistant.models import AnswerKind, Conversation, Message, Role
from assistant.tests.fakes import DownChatModel, scripted
from config.errors import NotFound
from governance import services as governance_services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import AccessGroupFactory, MembershipFactory, TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    return TenantFactory()


@pytest.fixture
def handbook(tenant):
    return ingest_now(tenant, "handbook.md", HANDBOOK.encode())


def _key(tenant, *scopes):
    api_key, raw = governance_services.api_key_create(
        tenant=tenant, name="bot", scopes=scopes or ["ask", "search"], actor=Actor()
    )
    return api_key, {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _ask(client, auth, **body):
    return client.post(reverse("api:ask"), body, content_type="application/json", **auth)


def _events(chunks):
    """(name, data) for each event of an SSE body (our events carry one JSON ``data:`` line)."""
    events = []
    for block in "".join(chunks).strip().split("\n\n"):
        name, data = block.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_the_json_answer_has_its_citations_ledger_and_an_audit_row(client, tenant, handbook, use_llm):
    use_llm(scripted("Sixteen weeks [1]."))
    api_key, auth = _key(tenant, "ask")
    response = _ask(client, auth, question="How long is parental leave?")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["answer"] == "Sixteen weeks [1]." and body["kind"] == AnswerKind.ANSWERED
    assert body["llm_called"] is True and body["cached_from"] is None and body["route"]
    citation = body["citations"][0]
    assert set(citation) == set(CitationSerializer().fields)
    assert citation["document_id"] == handbook.document_id and citation["title"] == "Employee handbook"
    assert citation["heading_path"][-1] == "Parental leave" and citation["chunk_id"] is not None
    assert set(body["usage"]) == set(UsageSerializer().fields)
    assert body["usage"]["model"] == "test-model" and body["usage"]["provider"] == "local"
    assert all(isinstance(ms, float) for ms in body["usage"]["timings_ms"].values())
    stored = Message.objects.get(pk=body["id"])
    assert stored.role == Role.ASSISTANT and stored.conversation.api_key_id == api_key.pk
    assert (
        stored.conversation_id == body["conversation"]
        and stored.reply_to.text == "How long is parental leave?"
    )
    audit = AuditEvent.objects.get(action="api.call")
    assert audit.actor_api_key_id == api_key.pk and audit.extra["status"] == 200
    assert "parental" not in json.dumps(audit.extra).lower()  # never the question


def test_a_stream_sends_the_question_then_tokens_before_the_answer_is_stored_then_done(
    client, tenant, handbook, use_llm
):
    use_llm(scripted("Employees get sixteen weeks [1]."))
    api_key, auth = _key(tenant, "ask")
    response = _ask(client, auth, question="How long is parental leave?", stream=True)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache" and response["X-Accel-Buffering"] == "no"
    chunks, stored_when_token = [], []
    for chunk in response.streaming_content:
        chunks.append(chunk.decode())
        if chunk.startswith(b"event: token"):
            stored_when_token.append(Message.objects.filter(role=Role.ASSISTANT).exists())
    events = _events(chunks)
    names = [name for name, _ in events]
    assert names[0] == "question" and names[-1] == "done" and set(names[1:-1]) == {"token"}
    assert len(stored_when_token) >= 3 and not any(stored_when_token)  # streamed, not replayed
    question = Message.objects.get(role=Role.USER)
    assert events[0][1] == {"question_id": question.pk, "conversation": question.conversation_id}
    assert "".join(data["text"] for _, data in events[1:-1]) == "Employees get sixteen weeks [1]."
    answer = Message.objects.get(reply_to=question)
    assert events[-1][1] == json.loads(json.dumps(answer_json(answer)))  # the JSON answer, as is
    assert events[-1][1]["citations"][0]["document_id"] == handbook.document_id
    assert answer.llm_called and answer.conversation.api_key_id == api_key.pk


def test_a_conversation_continues_json_and_streamed(client, tenant, handbook, use_llm):
    use_llm(scripted("Sixteen weeks [1].", "Meals are reimbursed up to forty euros a day [1]."))
    _, auth = _key(tenant, "ask")
    first = _ask(client, auth, question="Parental leave?").json()
    streamed = _ask(
        client, auth, question="How are meals reimbursed?", conversation=first["conversation"], stream=True
    )
    events = _events(c.decode() for c in streamed.streaming_content)
    assert events[0][1]["conversation"] == first["conversation"]
    assert events[-1][1]["conversation"] == first["conversation"]
    follow_up = Message.objects.get(pk=events[0][1]["question_id"])
    assert events[-1][1]["id"] == follow_up.reply.pk and follow_up.text == "How are meals reimbursed?"
    assert Conversation.objects.count() == 1
    assert Message.objects.filter(conversation_id=first["conversation"]).count() == 4


@pytest.mark.parametrize("stream", [False, True])
def test_another_principals_or_tenants_conversation_is_404(client, tenant, handbook, member_of, stream):
    _, auth = _key(tenant, "ask")
    mine = _ask(client, auth, question="Parental leave?").json()["conversation"]
    asked = Message.objects.count()
    _, colleague = _key(tenant, "ask")
    _, stranger = _key(TenantFactory(), "ask")
    for other in (colleague, stranger):
        refused = _ask(client, other, question="Meals?", conversation=mine, stream=stream)
        assert refused.status_code == 404 and refused["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "not_found"
    client.force_login(member_of(tenant))  # a member of the same tenant, in the browser
    assert _ask(client, {}, question="Meals?", conversation=mine, stream=stream).status_code == 404
    assert Message.objects.count() == asked


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [(RuntimeError("index unreadable"), 500, "answer_failed"), (NotFound("gone"), 404, "not_found")],
)
def test_a_failure_inside_the_stream_ends_it_with_an_error_event(
    client, tenant, handbook, monkeypatch, failure, status, code
):
    def broken(**kwargs):
        yield from ()
        raise failure

    monkeypatch.setattr("assistant.answering.pipeline.answer_stream", broken)
    _, auth = _key(tenant, "ask")
    response = _ask(client, auth, question="Parental leave?", stream=True)
    events = _events(c.decode() for c in response.streaming_content)
    assert [name for name, _ in events] == ["question", "error"]
    assert events[1][1]["status"] == status and events[1][1]["code"] == code
    assert set(events[1][1]) == {"type", "title", "status", "code", "detail"}
    assert "index unreadable" not in json.dumps(events)


def test_search_ranks_passages_with_their_scores_and_never_calls_the_llm(client, tenant, handbook, use_llm):
    model = use_llm(DownChatModel())
    ingest_now(tenant, "cafeteria.md", b"# Cafeteria\n\nThe cafeteria opens at eight and serves lunch.")
    _, auth = _key(tenant, "search")
    response = client.post(
        reverse("api:search"), {"query": "receipts reimbursed meals"}, content_type="application/json", **auth
    )
    assert response.status_code == 200, response.content
    body = response.json()
    top = body["passages"][0]
    assert top["rank"] == 1 and top["document_id"] == handbook.document_id and "receipts" in top["text"]
    assert top["heading_path"] == ["Employee handbook", "Expenses"] and top["title"] == "Employee handbook"
    assert isinstance(top["score"], float) and top["sparse_rank"] == 1
    assert isinstance(top["rerank_score"], float)  # two documents found: the reranker ran
    assert isinstance(body["documents"][0]["rerank_score"], float)
    assert [p["rank"] for p in body["passages"]] == list(range(1, len(body["passages"]) + 1))
    assert body["documents"][0]["document_id"] == handbook.document_id
    assert top["chunk_id"] in body["documents"][0]["chunk_ids"]
    got = client.get(reverse("api:search"), {"q": "receipts reimbursed meals", "top_k": 1}, **auth)
    assert got.status_code == 200 and got.json()["passages"] == [top]
    assert model.calls == 0 and not Message.objects.exists()  # no LLM, no ledger row


def test_a_restricted_document_never_reaches_a_member_outside_its_group(client, tenant, handbook):
    board = AccessGroupFactory(tenant=tenant)
    secret = ingest_now(tenant, "board.md", b"# Board\n\nMerger talks with Initech.", access_groups=[board])
    member, insider = MembershipFactory(tenant=tenant), MembershipFactory(tenant=tenant)
    board.members.add(insider)

    def seen_by(membership):
        client.force_login(membership.user)
        found = client.get(reverse("api:search"), {"q": "merger talks Initech", "top_k": 50}).json()
        answer = _ask(client, {}, question="Who are the merger talks with?").json()
        return {p["document_id"] for p in found["passages"]} | {c["document_id"] for c in answer["citations"]}

    assert secret.document_id not in seen_by(member)
    assert secret.document_id in seen_by(insider)


def test_scopes_and_authentication(client, tenant, handbook):
    _, search_only = _key(tenant, "search")
    _, ask_only = _key(tenant, "ask")
    asked = _ask(client, search_only, question="Parental leave?")
    assert asked.status_code == 403 and asked.json()["code"] == "missing_scope"
    searched = client.get(reverse("api:search"), {"q": "leave"}, **ask_only)
    assert searched.status_code == 403 and searched.json()["code"] == "missing_scope"
    assert _ask(client, {}, question="Parental leave?").status_code == 401
    assert client.get(reverse("api:search"), {"q": "leave"}).status_code == 401
    wrong = client.get(reverse("api:search"), {"q": "leave"}, HTTP_AUTHORIZATION="Bearer tsk_nope_nope")
    assert wrong.status_code == 401 and wrong["Content-Type"] == "application/problem+json"
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "query",
    [{}, {"q": ""}, {"q": "   "}, {"q": "x" * 2001}, {"q": "leave", "top_k": 0}, {"q": "a", "top_k": 51}],
)
def test_bad_searches_are_400_problems(client, tenant, query):
    _, auth = _key(tenant, "search")
    got = client.get(reverse("api:search"), query, **auth)
    posted = client.post(
        reverse("api:search"),
        {"query": query["q"], **({"top_k": query["top_k"]} if "top_k" in query else {})}
        if "q" in query
        else {},
        content_type="application/json",
        **auth,
    )
    for response in (got, posted):
        assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": " \t\u3000 "},
        {"question": "nul\x00"},
        {"question": "x" * 2001},
        {"question": 7},
        {"question": "ok", "conversation": 2**63},
        {"question": "ok", "conversation": "1"},
        {"question": "ok", "stream": "yes"},
    ],
)
def test_bad_questions_are_400_problems_and_store_nothing(client, tenant, body):
    _, auth = _key(tenant, "ask")
    response = _ask(client, auth, **body)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid"
    assert not Message.objects.exists()


def test_bodies_are_json_and_an_sse_client_may_accept_only_the_stream(client, tenant, handbook):
    _, auth = _key(tenant, "ask", "search")
    form = client.post(reverse("api:ask"), {"question": "Parental leave?"}, **auth)
    assert form.status_code == 415 and form.json()["code"] == "unsupported_media_type"
    typed = client.post(reverse("api:search"), {"query": 0}, content_type="application/json", **auth)
    assert typed.status_code == 400
    sse = _ask(client, {**auth, "HTTP_ACCEPT": "text/event-stream"}, question="Parental leave?", stream=True)
    assert sse.status_code == 200 and sse["Content-Type"] == "text/event-stream"
    assert [name for name, _ in _events(c.decode() for c in sse.streaming_content)][-1] == "done"
    refused = _ask(client, {**auth, "HTTP_ACCEPT": "text/event-stream"}, question="")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"


def test_ask_has_its_own_rate_limit_and_search_does_not(client, tenant, handbook, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "100/minute"}}
    settings.TESSERA = {**settings.TESSERA, "ASK_RATE": (2, 60)}  # the service's, shared with the chat
    _, auth = _key(tenant, "ask", "search")
    statuses = [_ask(client, auth, question="Parental leave?").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = _ask(client, auth, question="Parental leave?", stream=True)
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert refused["Content-Type"] == "application/problem+json" and refused.json()["code"] == "rate_limited"
    assert Message.objects.filter(role=Role.USER).count() == 2
    for _ in range(3):
        assert client.get(reverse("api:search"), {"q": "leave"}, **auth).status_code == 200


def test_the_schema_describes_both_media_types_and_the_usage_object(client, member_of):
    client.force_login(member_of(TenantFactory()))  # the schema is for members and keys only
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    ok = schema["paths"]["/api/v1/ask/"]["post"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}
    event = ok["text/event-stream"]["schema"]  # OpenAPI 3.0: the schema of one event
    assert event["required"] == ["event", "data"]
    assert event["properties"]["event"]["enum"] == ["question", "token", "done", "error"]
    components = schema["components"]["schemas"]
    usage = components["AnswerUsage"]
    assert usage["type"] == "object" and "prompt_tokens" in usage["required"]
    assert components["Answer"]["properties"]["cached_from"]["nullable"] is True
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/search/"])
    assert components["Passage"]["properties"]["dense_rank"]["nullable"] is True
    assert components["Passage"]["properties"]["rerank_score"]["nullable"] is True
