"""The chat over HTTP: ask, stream the answer as Server-Sent Events, read it back; the JSON path."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.models import AnswerKind, Message
from assistant.tests.fakes import scripted
from governance import services as governance_services
from governance.models import Role
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    return tenant


def _events(response):
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.strip().split("\n\n"):
        lines = block.split("\n")
        name = lines[0].removeprefix("event: ")
        events.append((name, "\n".join(line.removeprefix("data: ") for line in lines[1:])))
    return events


def test_ask_then_stream_the_answer_with_escaped_tokens_and_the_rendered_answer_last(
    client, member_of, tenant, use_llm
):
    use_llm(scripted("Sixteen weeks [1]. <script>alert(1)</script> [1]"))
    client.force_login(member_of(tenant))
    response = client.post(reverse("assistant:ask"), {"question": "Parental leave?"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    question = Message.objects.get(tenant=tenant, role="user")
    stream_url = reverse("assistant:answer_stream", args=[question.pk])
    assert f'sse-connect="{stream_url}"' in response.content.decode()
    assert f'value="{question.conversation_id}"' in response.content.decode()  # follow-ups stay in it

    streamed = client.get(stream_url)
    assert streamed.status_code == 200 and streamed["Content-Type"] == "text/event-stream"
    events = _events(streamed)
    # the passages the model reads come first, before its first token: something to read at once
    assert events[0][0] == "sources" and "Employee handbook" in events[0][1]
    assert "sixteen weeks of paid parental leave" in events[0][1]
    assert {name for name, _ in events[1:-1]} == {"token"} and events[-1][0] == "done"
    tokens = "".join(data for _, data in events[1:-1])
    assert "<script>" not in tokens and "&lt;script&gt;" in tokens
    done = events[-1][1]
    assert "<script>" not in done and "&lt;script&gt;" in done
    assert 'class="cite" href="/chat/passages/' in done and "Employee handbook" in done
    assert '<span class="unsupported"' in done  # the script sentence is backed by no passage
    answer = Message.objects.get(reply_to=question)
    assert answer.kind == AnswerKind.ANSWERED and answer.llm_called

    page = client.get(reverse("home"), {"c": question.conversation_id})
    assert page.status_code == 200 and "Parental leave?" in page.content.decode()
    assert "&lt;script&gt;" in page.content.decode() and "<script>alert" not in page.content.decode()


def test_without_javascript_the_form_answers_and_redirects_to_the_conversation(client, member_of, tenant):
    client.force_login(member_of(tenant))
    response = client.post(reverse("assistant:ask"), {"question": "How long is parental leave?"})
    question = Message.objects.get(tenant=tenant, role="user")
    assert response.status_code == 302 and response["Location"].endswith(f"?c={question.conversation_id}")
    assert Message.objects.get(reply_to=question).kind == AnswerKind.EXTRACTIVE  # test settings: no LLM


def test_bad_questions_are_400_and_other_users_streams_404(client, member_of, tenant):
    client.force_login(member_of(tenant))
    assert (
        client.post(reverse("assistant:ask"), {"question": "  "}, HTTP_HX_REQUEST="true").status_code == 400
    )
    client.post(reverse("assistant:ask"), {"question": "Parental leave?"}, HTTP_HX_REQUEST="true")
    question = Message.objects.get(tenant=tenant, role="user")
    client.force_login(member_of(tenant, role=Role.OWNER))  # even an owner: conversations are personal
    assert client.get(reverse("assistant:answer_stream", args=[question.pk])).status_code == 404
    assert client.get(reverse("home"), {"c": question.conversation_id}).status_code == 404
    assert not Message.objects.filter(reply_to=question).exists()


def test_the_json_path_answers_with_citations_and_checks_the_key_scope(client, tenant, use_llm):
    use_llm(scripted("Sixteen weeks [1]."))
    _, raw = governance_services.api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    response = client.post(
        reverse("api:ask"),
        {"question": "How long is parental leave?"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["answer"] == "Sixteen weeks [1]." and body["kind"] == "answered" and body["llm_called"]
    assert body["citations"][0]["marker"] == 1 and body["citations"][0]["title"] == "Employee handbook"
    assert body["usage"]["model"] == "test-model"
    follow_up = client.post(
        reverse("api:ask"),
        {"question": "And meals?", "conversation": body["conversation"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {raw}",
    )
    assert follow_up.status_code == 200 and follow_up.json()["conversation"] == body["conversation"]

    _, search_only = governance_services.api_key_create(
        tenant=tenant, name="s", scopes=["search"], actor=Actor()
    )
    denied = client.post(
        reverse("api:ask"),
        {"question": "x"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {search_only}",
    )
    assert denied.status_code == 403
    other_tenant = governance_services.api_key_create(
        tenant=TenantFactory(), name="o", scopes=["ask"], actor=Actor()
    )[1]
    stranger = client.post(
        reverse("api:ask"),
        {"question": "x", "conversation": body["conversation"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {other_tenant}",
    )
    assert stranger.status_code == 404
    bad = client.post(
        reverse("api:ask"), "{not json", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert bad.status_code == 400


def test_a_failure_inside_the_stream_ends_it_with_a_message_not_a_dropped_connection(
    client, member_of, tenant, monkeypatch
):
    client.force_login(member_of(tenant))
    client.post(reverse("assistant:ask"), {"question": "Parental leave?"}, HTTP_HX_REQUEST="true")
    question = Message.objects.get(tenant=tenant, role="user")

    def broken(**kwargs):
        raise RuntimeError("index unreadable")
        yield  # a generator, as the real one

    monkeypatch.setattr("assistant.answering.pipeline.answer_stream", broken)
    events = _events(client.get(reverse("assistant:answer_stream", args=[question.pk])))
    assert events[-1][0] == "done" and "Something went wrong" in events[-1][1]
