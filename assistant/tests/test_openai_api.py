"""The OpenAI-compatible endpoints over HTTP: the request shape, completions (JSON and streamed),
scopes, tenants, errors in both shapes and the audit row of each call."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from assistant.api.openai_format import ChatCompletionRequest, last_question, remainder
from assistant.models import AnswerKind, Conversation, Message
from assistant.tests.fakes import scripted
from governance import services as governance_services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

ANSWER = "Employees get sixteen weeks of paid parental leave [1]."


def _valid(**body):
    return ChatCompletionRequest(data={"model": "tessera", **body})


def test_the_question_is_the_last_user_message_and_text_parts_are_joined():
    request = _valid(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Meals?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
            {"role": "tool", "content": "42", "tool_call_id": "x"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Parental"}, {"type": "text", "text": "leave?"}],
            },
        ],
        stream_options={"include_usage": True},
        temperature=0.2,
        max_completion_tokens=50,
        n=1,
        user="bot",
        logit_bias={"1": 2},  # unknown fields are ignored
    )
    assert request.is_valid(), request.errors
    assert last_question(request.validated_data["messages"]) == "Parental\nleave?"
    assert "logit_bias" not in request.validated_data


@pytest.mark.parametrize(
    "body",
    [
        {"messages": []},
        {"messages": "hello"},
        {"messages": [{"role": "system", "content": "only a system prompt"}]},
        {"messages": [{"role": "user", "content": 42}]},
        {"messages": [{"role": "user", "content": {"text": "x"}}]},
        {"messages": [{"role": "user", "content": []}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        {"messages": [{"role": "user", "content": "a\x00b"}]},
        {"messages": [{"role": "wizard", "content": "hi"}]},
        {"messages": [{"role": "user", "content": "hi"}], "n": 2},
        {"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
    ],
)
def test_garbage_requests_are_invalid(body):
    assert not _valid(**body).is_valid()


def test_the_stream_owes_what_was_not_streamed():
    assert remainder("", "The answer.") == "The answer."
    assert remainder("The ans", "The answer.") == "wer."
    assert remainder("A claim nobody backs.", "The passages instead.") == ""


@pytest.fixture
def tenant(db):
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    return tenant


@pytest.fixture
def key(tenant):
    return governance_services.api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())


def _post(client, raw, **body):
    payload = {"model": "tessera", "messages": [{"role": "user", "content": "How long is parental leave?"}]}
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw else {}
    return client.post(
        reverse("openai:chat_completions"),
        json.dumps({**payload, **body}),
        content_type="application/json",
        **auth,
    )


def _chunks(response):
    assert response["Content-Type"] == "text/event-stream"
    body = b"".join(response.streaming_content).decode()
    lines = [block for block in body.split("\n\n") if block]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def test_models_lists_tessera_owned_by_the_tenant(client, tenant, key):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key[1]}"}
    listed = client.get(reverse("openai:models"), **auth)
    assert listed.status_code == 200
    assert listed.json() == {
        "object": "list",
        "data": [
            {
                "id": "tessera",
                "object": "model",
                "created": int(tenant.created_at.timestamp()),
                "owned_by": tenant.slug,
            }
        ],
    }
    assert client.get(reverse("openai:model", args=["tessera"]), **auth).json()["owned_by"] == tenant.slug
    missing = client.get(reverse("openai:model", args=["gpt-4o"]), **auth)
    assert missing.status_code == 404 and missing["Content-Type"].startswith("application/problem+json")
    body = missing.json()
    assert body["code"] == "model_not_found" and body["status"] == 404
    assert body["error"] == {"message": body["detail"], "type": "not_found_error", "code": "model_not_found"}


def test_a_completion_is_the_grounded_answer_with_citations_in_a_new_conversation_of_the_key(
    client, tenant, key, use_llm
):
    use_llm(scripted(ANSWER))
    api_key, raw = key
    response = _post(
        client, raw, messages=[{"role": "system", "content": "x"}, {"role": "user", "content": "Leave?"}]
    )
    assert response.status_code == 200, response.content
    body = response.json()
    answer = Message.objects.get(tenant=tenant, role="assistant")
    assert body["id"] == f"chatcmpl-{answer.pk}" and body["object"] == "chat.completion"
    assert body["model"] == "tessera" and body["created"] == int(answer.created_at.timestamp())
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert body["citations"][0]["marker"] == 1 and body["citations"][0]["title"] == "Employee handbook"
    assert body["tessera"] == {
        "route": answer.route,
        "llm_called": True,
        "kind": AnswerKind.ANSWERED,
        "conversation": answer.conversation_id,
        "message_id": answer.pk,
    }
    conversation = Conversation.objects.get(pk=answer.conversation_id)
    assert (conversation.api_key_id, conversation.user_id) == (api_key.pk, None)
    assert answer.reply_to.text == "Leave?"  # the last user message, not the system prompt
    call = AuditEvent.objects.get(action="api.call")
    assert call.actor_api_key_id == api_key.pk
    assert call.extra == {"method": "POST", "route": "/v1/chat/completions", "status": 200}
    assert AuditEvent.objects.filter(action="question.answered", tenant=tenant).count() == 1


def test_a_follow_up_continues_the_callers_conversation_and_a_strangers_is_404(client, tenant, key, use_llm):
    use_llm(scripted(ANSWER, "Forty euros a day [1]."))
    first = _post(client, key[1]).json()["tessera"]["conversation"]
    follow_up = _post(
        client, key[1], conversation=first, messages=[{"role": "user", "content": "And meals?"}]
    )
    assert follow_up.status_code == 200 and follow_up.json()["tessera"]["conversation"] == first
    assert Message.objects.filter(conversation_id=first).count() == 4

    other = governance_services.api_key_create(
        tenant=TenantFactory(), name="o", scopes=["ask"], actor=Actor()
    )[1]
    stranger = _post(client, other, conversation=first)
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    assert stranger.json()["error"]["type"] == "not_found_error"
    same_tenant_other_key = governance_services.api_key_create(
        tenant=tenant, name="k2", scopes=["ask"], actor=Actor()
    )
    assert _post(client, same_tenant_other_key[1], conversation=first).status_code == 404
    assert Message.objects.filter(conversation_id=first).count() == 4


def test_a_stream_sends_role_content_final_usage_and_done(client, tenant, key, use_llm):
    use_llm(scripted(ANSWER))
    response = _post(client, key[1], stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200
    chunks = _chunks(response)
    answer = Message.objects.get(tenant=tenant, role="assistant")
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = [c["choices"][0]["delta"]["content"] for c in chunks[1:-2]]
    assert len(content) > 1 and "".join(content) == ANSWER == answer.text  # streamed word by word
    final, usage = chunks[-2], chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop" and final["choices"][0]["delta"] == {}
    assert final["citations"][0]["title"] == "Employee handbook"
    assert final["tessera"]["message_id"] == answer.pk and final["tessera"]["answer"] == ANSWER
    assert usage["choices"] == [] and set(usage["usage"]) == {
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
    }
    assert AuditEvent.objects.get(action="api.call").extra["status"] == 200


def test_a_stream_without_an_llm_sends_the_whole_answer_and_no_usage_unless_asked(client, tenant, key):
    chunks = _chunks(_post(client, key[1], stream=True))  # test settings: extractive, no LLM
    answer = Message.objects.get(tenant=tenant, role="assistant")
    assert answer.kind == AnswerKind.EXTRACTIVE and not answer.llm_called
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]] == [answer.text]
    assert (
        chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["tessera"]["llm_called"] is False
    )


def test_a_stream_that_fails_midway_ends_with_an_error_and_done(client, tenant, key, monkeypatch):
    def broken(**kwargs):
        yield from ()
        raise RuntimeError("boom")

    monkeypatch.setattr("assistant.answering.pipeline.answer_stream", broken)
    chunks = _chunks(_post(client, key[1], stream=True))
    assert chunks[-1] == {
        "error": {
            "message": "The answer failed; please retry.",
            "type": "server_error",
            "code": "answer_failed",
        }
    }


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "gpt-4o"}, 404, "model_not_found"),
        ({"n": 2}, 400, "invalid"),
        ({"messages": [{"role": "system", "content": "no question"}]}, 400, "invalid"),
        ({"messages": [{"role": "user", "content": "   "}]}, 400, "empty_question"),
        ({"messages": [{"role": "user", "content": "x" * 2001}]}, 400, "question_too_long"),
    ],
)
def test_bad_requests_are_problems_with_an_openai_error_and_store_nothing(client, key, body, status, code):
    response = _post(client, key[1], **body)
    assert response.status_code == status and response["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == code and problem["error"]["code"] == code and problem["error"]["message"]
    assert not Message.objects.exists()


def test_a_body_that_is_not_json_is_400(client, key):
    response = client.post(
        reverse("openai:chat_completions"),
        "{no",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key[1]}",
    )
    assert response.status_code == 400 and response.json()["error"]["type"] == "invalid_request_error"


def test_keys_need_the_ask_scope_and_a_revoked_key_is_401(client, tenant, key):
    anonymous = client.get(reverse("openai:models"))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["type"] == "authentication_error"
    search_only = governance_services.api_key_create(
        tenant=tenant, name="s", scopes=["search"], actor=Actor()
    )[1]
    denied = _post(client, search_only)
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "permission_error"
    assert client.get(reverse("openai:models"), HTTP_AUTHORIZATION=f"Bearer {search_only}").status_code == 403
    governance_services.api_key_revoke(api_key=key[0], actor=Actor())
    revoked = _post(client, key[1])
    assert revoked.status_code == 401 and revoked.json()["error"]["type"] == "authentication_error"
    assert not Message.objects.exists()
    statuses = sorted(e.extra["status"] for e in AuditEvent.objects.filter(action="api.call", tenant=tenant))
    assert statuses == [401, 403, 403]  # the anonymous call names no key: no tenant to audit it in


def test_a_signed_in_member_may_use_it_with_the_session(client, tenant, member_of):
    user = member_of(tenant)
    client.force_login(user)
    response = _post(client, None)
    assert response.status_code == 200, response.content
    assert Conversation.objects.get(tenant=tenant).user_id == user.pk


def test_only_json_is_accepted_and_an_over_large_body_is_413_with_an_openai_error(client, key):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key[1]}"}
    form = client.post(reverse("openai:chat_completions"), {"model": "tessera", "messages": "hi"}, **auth)
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    huge = client.post(
        reverse("openai:chat_completions"),
        "{}",
        content_type="application/json",
        CONTENT_LENGTH=str(2 << 20),
        **auth,
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "request_too_large"
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_the_schema_describes_both_media_types_and_errors_with_the_openai_member(client, member_of):
    client.force_login(member_of(TenantFactory()))  # the schema is for members and keys only
    schema = client.get(reverse("schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    post = schema["paths"]["/v1/chat/completions"]["post"]
    assert set(post["requestBody"]["content"]) == {"application/json"}
    ok = post["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/ChatCompletion")
    assert ok["text/event-stream"]["schema"]["$ref"].endswith("/StreamEvent")
    assert post["responses"]["404"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/OpenAiProblem"
    )
    assert "error" in schema["components"]["schemas"]["OpenAiProblem"]["required"]
    models = schema["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert models["$ref"].endswith("/OpenAiModelList")


def test_a_streamed_draft_that_fails_verification_ends_with_the_stored_answer(client, tenant, key, use_llm):
    use_llm(scripted("The moon is made of green cheese [1]."))
    chunks = _chunks(_post(client, key[1], stream=True))
    answer = Message.objects.get(tenant=tenant, role="assistant")
    assert answer.kind == AnswerKind.EXTRACTIVE and answer.llm_called  # the claim is backed by no passage
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "cheese" in streamed and "cheese" not in answer.text
    assert chunks[-1]["tessera"]["answer"] == answer.text and chunks[-1]["tessera"]["kind"] == "extractive"


def test_completions_have_the_tighter_answer_rate_limit(client, key, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api": "100/minute"}}
    settings.TESSERA = {**settings.TESSERA, "ASK_RATE": (2, 60)}  # the service's, shared with the chat
    assert [_post(client, key[1]).status_code for _ in range(2)] == [200, 200]
    refused = _post(client, key[1])
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert refused.json()["error"] == {
        "message": refused.json()["detail"],
        "type": "rate_limit_error",
        "code": "rate_limited",
    }
    assert client.get(reverse("openai:models"), HTTP_AUTHORIZATION=f"Bearer {key[1]}").status_code == 200
    assert Message.objects.filter(role="assistant").count() == 2
