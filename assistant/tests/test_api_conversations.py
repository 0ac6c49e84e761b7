"""Conversations, messages, feedback and usage through the REST API: with an API key and with a
signed-in user (CSRF enforced), each caller seeing only its own, admins alone seeing usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from assistant.models import AnswerKind, Citation, Conversation, Feedback, Message, Role
from assistant.tests.usage_ledger import NOW, ledger_row
from governance import services as governance_services
from governance.models import AuditEvent
from governance.models import Role as MemberRole
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db
LIST = reverse("api:conversation-list")
USAGE = reverse("api:usage")
QUERY_BUDGET = 10  # whatever the number of rows: no query per row


def detail(conversation_id: int) -> str:
    return reverse("api:conversation-detail", args=[conversation_id])


def messages_of(conversation_id: int) -> str:
    return reverse("api:conversation-messages", args=[conversation_id])


def feedback_url(message_id: int) -> str:
    return reverse("api:message-feedback", args=[message_id])


@pytest.fixture
def tenant():
    return TenantFactory()


def key_client(tenant, scopes=("ask",)):
    """An API client authenticated with a new key of ``tenant``, and the key."""
    api_key, raw = governance_services.api_key_create(
        tenant=tenant, name="bot", scopes=list(scopes), actor=Actor()
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, api_key


def exchange(conversation, question="How long is parental leave?", answer="Sixteen weeks [1]."):
    """A question and its answer (citing one passage) in ``conversation``."""
    asked = Message.objects.create(
        tenant=conversation.tenant, conversation=conversation, role=Role.USER, text=question
    )
    answered = Message.objects.create(
        tenant=conversation.tenant,
        conversation=conversation,
        role=Role.ASSISTANT,
        reply_to=asked,
        text=answer,
        kind=AnswerKind.EXTRACTIVE,
        route="question",
    )
    Citation.objects.create(
        tenant=conversation.tenant,
        message=answered,
        marker=1,
        title="Leave policy",
        page=3,
        heading_path=["Leave", "Parental leave"],
        char_start=10,
        char_end=80,
    )
    return asked, answered


def test_a_key_lists_its_own_conversations_newest_first_paginated(tenant, member_of):
    client, api_key = key_client(tenant)
    older = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Older")
    exchange(older)
    newer = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Newer")
    newest = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Newest")
    _, other_key = key_client(tenant)
    Conversation.objects.create(tenant=tenant, api_key=other_key, title="Another key's")
    Conversation.objects.create(tenant=tenant, user=member_of(tenant), api_key=api_key, title="A user's")

    first = client.get(LIST, {"page_size": 2})
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 3 and body["next"] and body["previous"] is None
    assert [row["id"] for row in body["results"]] == [newest.pk, newer.pk]
    assert set(body["results"][0]) == {"id", "title", "created", "updated", "messages"}
    second = client.get(LIST, {"page_size": 2, "page": 2}).json()
    assert [(row["title"], row["messages"]) for row in second["results"]] == [("Older", 2)]
    assert client.get(LIST, {"page": 9}).json()["code"] == "not_found"


def test_a_key_reads_renames_and_deletes_its_conversation(tenant):
    client, api_key = key_client(tenant)
    conversation = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Leave")
    exchange(conversation)

    read = client.get(detail(conversation.pk))
    assert read.status_code == 200 and read.json()["messages"] == 2
    renamed = client.patch(detail(conversation.pk), {"title": "  Parental   leave "}, format="json")
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "Parental leave" and renamed.json()["messages"] == 2
    conversation.refresh_from_db()
    assert conversation.title == "Parental leave"
    assert AuditEvent.objects.filter(
        action="conversation.renamed", actor_api_key=api_key, target_id=str(conversation.pk)
    ).exists()
    for bad in ({"title": "   "}, {"title": "x" * 201}, {"title": "a\x00b"}, {"title": 7 * [" "]}):
        refused = client.patch(detail(conversation.pk), bad, format="json")
        assert refused.status_code == 400 and refused["Content-Type"].startswith("application/problem+json")
        assert "title" in refused.json()["detail"]
    unchanged = client.patch(detail(conversation.pk), {}, format="json")
    assert unchanged.status_code == 200 and unchanged.json()["title"] == "Parental leave"
    deleted = client.delete(detail(conversation.pk))
    assert deleted.status_code == 204 and not deleted.content
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert AuditEvent.objects.get(action="conversation.deleted").extra == {"messages": 2}


def test_a_signed_in_user_needs_the_csrf_token_to_rename_or_delete(tenant, member_of):
    user = member_of(tenant)
    conversation = Conversation.objects.create(tenant=tenant, user=user, title="Mine")
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)
    listed = browser.get(LIST)
    assert listed.status_code == 200 and [row["id"] for row in listed.json()["results"]] == [conversation.pk]

    refused = browser.patch(detail(conversation.pk), {"title": "Renamed"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert browser.delete(detail(conversation.pk)).status_code == 403
    conversation.refresh_from_db()
    assert conversation.title == "Mine"

    browser.get(reverse("home"))  # the page sets the CSRF cookie, as a browser would get it
    token = {"HTTP_X_CSRFTOKEN": browser.cookies["csrftoken"].value}
    renamed = browser.patch(detail(conversation.pk), {"title": "Renamed"}, format="json", **token)
    assert renamed.status_code == 200 and renamed.json()["title"] == "Renamed"
    assert AuditEvent.objects.filter(action="conversation.renamed", actor=user).exists()
    _, answered = exchange(conversation)
    assert browser.post(feedback_url(answered.pk), {"rating": "up"}, format="json").status_code == 403
    assert (
        browser.post(feedback_url(answered.pk), {"rating": "up"}, format="json", **token).status_code == 200
    )
    assert Feedback.objects.get(message=answered).user == user
    assert browser.get(messages_of(conversation.pk)).json()["results"][1]["feedback"]["rating"] == "up"
    assert browser.delete(detail(conversation.pk), **token).status_code == 204
    assert not Conversation.objects.filter(pk=conversation.pk).exists()


def test_messages_come_oldest_first_with_citations_and_the_callers_feedback(tenant):
    client, api_key = key_client(tenant)
    conversation = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Leave")
    asked, answered = exchange(conversation)
    later_question, later_answer = exchange(conversation, "And for adoption?", "The same [1].")
    Feedback.objects.create(tenant=tenant, message=answered, api_key=api_key, rating="up", comment="clear")

    response = client.get(messages_of(conversation.pk))
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [row["id"] for row in rows] == [asked.pk, answered.pk, later_question.pk, later_answer.pk]
    question, answer = rows[0], rows[1]
    assert (question["role"], question["reply_to"], question["citations"], question["feedback"]) == (
        "user",
        None,
        [],
        None,
    )
    assert (answer["role"], answer["kind"], answer["route"], answer["llm_called"]) == (
        "assistant",
        "extractive",
        "question",
        False,
    )
    assert answer["reply_to"] == asked.pk and answer["text"] == "Sixteen weeks [1]."
    assert answer["citations"] == [
        {
            "marker": 1,
            "document_id": None,
            "version_id": None,
            "chunk_id": None,
            "title": "Leave policy",
            "page": 3,
            "heading_path": ["Leave", "Parental leave"],
            "char_start": 10,
            "char_end": 80,
        }
    ]
    assert answer["feedback"]["rating"] == "up" and answer["feedback"]["comment"] == "clear"
    assert answer["feedback"]["message"] == answered.pk and rows[3]["feedback"] is None
    paged = client.get(messages_of(conversation.pk), {"page_size": 3, "page": 2}).json()
    assert paged["count"] == 4 and [row["id"] for row in paged["results"]] == [later_answer.pk]


def test_feedback_is_given_then_changed_with_its_audit_rows(tenant):
    client, api_key = key_client(tenant)
    conversation = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Leave")
    asked, answered = exchange(conversation)

    given = client.post(feedback_url(answered.pk), {"rating": "up", "comment": ""}, format="json")
    assert given.status_code == 200
    assert given.json()["rating"] == "up" and given.json()["comment"] == ""
    assert AuditEvent.objects.get(action="feedback.given").target_id == str(answered.pk)
    changed = client.post(
        feedback_url(answered.pk), {"rating": "down", "comment": " Outdated "}, format="json"
    )
    assert changed.status_code == 200
    assert (changed.json()["rating"], changed.json()["comment"]) == ("down", "Outdated")
    stored = Feedback.objects.get()
    assert (stored.message_id, stored.api_key_id, stored.user_id, stored.rating) == (
        answered.pk,
        api_key.pk,
        None,
        "down",
    )
    assert AuditEvent.objects.get(action="feedback.changed").extra == {"rating": "down", "comment": True}

    for bad in (
        {},
        {"rating": "meh"},
        {"rating": "up", "comment": "x" * 2001},
        {"rating": "up", "comment": "\x00"},
    ):
        assert client.post(feedback_url(answered.pk), bad, format="json").status_code == 400
    # A question is not an answer: nothing to rate.
    assert client.post(feedback_url(asked.pk), {"rating": "up"}, format="json").status_code == 404
    assert Feedback.objects.get().rating == "down"


def _strangers(tenant, member_of):
    """Callers who must not see a conversation of ``tenant``'s first key."""
    other_key, _ = key_client(tenant)
    other_user = APIClient()
    other_user.force_login(member_of(tenant, role=MemberRole.ADMIN))
    other_tenant, _ = key_client(TenantFactory(), scopes=("admin",))
    return {"another key": other_key, "another user": other_user, "another tenant": other_tenant}


@pytest.mark.parametrize("who", ["another key", "another user", "another tenant"])
def test_another_principals_conversation_or_message_is_not_found(tenant, member_of, who):
    owner, api_key = key_client(tenant)
    conversation = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Private")
    _, answered = exchange(conversation)
    stranger = _strangers(tenant, member_of)[who]

    assert stranger.get(LIST).json()["count"] == 0
    responses = [
        stranger.get(detail(conversation.pk)),
        stranger.patch(detail(conversation.pk), {"title": "Mine now"}, format="json"),
        stranger.delete(detail(conversation.pk)),
        stranger.get(messages_of(conversation.pk)),
        stranger.post(feedback_url(answered.pk), {"rating": "down"}, format="json"),
    ]
    assert [response.status_code for response in responses] == [404] * 5
    assert {response.json()["code"] for response in responses} == {"not_found"}
    conversation.refresh_from_db()
    assert conversation.title == "Private" and not Feedback.objects.exists()
    assert owner.get(detail(conversation.pk)).status_code == 200


@pytest.mark.parametrize("odd_id", ["0", "-1", "abc", "1.5", "\u0661", str(2**63), "9" * 30])
def test_ids_no_row_can_have_are_not_found(tenant, odd_id):
    client, _ = key_client(tenant)
    for response in (
        client.get(detail(odd_id)),
        client.patch(detail(odd_id), {"title": "x"}, format="json"),
        client.delete(detail(odd_id)),
        client.get(messages_of(odd_id)),
        client.post(feedback_url(odd_id), {"rating": "up"}, format="json"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/problem+json")


def test_the_conversation_endpoints_need_the_ask_scope(tenant):
    client, _ = key_client(tenant, scopes=("search",))
    response = client.get(LIST)
    assert response.status_code == 403 and response.json()["code"] == "missing_scope"
    assert APIClient().get(LIST).status_code == 401


@pytest.fixture
def ledger(tenant, time_machine):
    """Three answers today and yesterday (one by the LLM, one from the cache) and one too old; the
    clock is set to an afternoon, so "today" and "yesterday" do not move under the test at midnight."""
    time_machine.move_to(NOW, tick=True)
    now = timezone.now()
    llm = ledger_row(
        tenant,
        at=now,
        llm=True,
        prompt_tokens=300,
        completion_tokens=100,
        cost_usd=Decimal("0.004"),
        timings_ms={"retrieve": 10.0, "llm_total": 800.0, "total": 900.0},
    )
    ledger_row(tenant, at=now, cached_from=llm, timings_ms={"retrieve": 20.0, "total": 30.0})
    ledger_row(tenant, "hi", at=now - timedelta(days=1), route="smalltalk", kind=AnswerKind.NO_LLM)
    ledger_row(tenant, at=now - timedelta(days=40), llm=True, prompt_tokens=9, cost_usd=Decimal("1"))
    ledger_row(TenantFactory(), at=now, llm=True, prompt_tokens=5000)
    return tenant


def test_an_admin_key_reads_the_tenants_usage(ledger):
    client, _ = key_client(ledger, scopes=("admin",))
    response = client.get(USAGE, {"days": 7})
    assert response.status_code == 200
    body = response.json()
    totals = body["totals"]
    assert (totals["answers"], totals["without_llm"], totals["llm_calls"]) == (3, 2, 1)
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["cost_usd"]) == (300, 100, 0.004)
    assert (totals["cache_hits"], totals["cache_tokens_saved"], totals["cache_cost_saved_usd"]) == (
        1,
        400,
        0.004,
    )
    assert totals["tokens_saved_estimate"] == 800 and totals["share_without_llm"] == round(2 / 3, 4)
    assert {route["route"]: route["answers"] for route in totals["routes"]} == {"question": 2, "smalltalk": 1}
    assert body["days"] == 7 and len(body["by_day"]) == 7
    assert [day["answers"] for day in body["by_day"]][-2:] == [1, 2]
    assert body["by_day"][-1]["tokens"] == 400
    latency = {row["stage"]: row for row in body["latency"]}
    assert latency["retrieve"]["samples"] == 2 and latency["retrieve"]["p50_ms"] == 15.0
    assert latency["llm_total"]["p95_ms"] == 800.0
    assert body["feedback"] == {"up": 0, "down": 0}
    # The default window is 30 days: the 40-day-old answer is only in a wider one.
    assert client.get(USAGE).json()["totals"]["answers"] == 3
    assert client.get(USAGE, {"days": 366}).json()["totals"]["answers"] == 4


def test_usage_before_any_answer_has_nulls_not_errors(tenant):
    client, _ = key_client(tenant, scopes=("admin",))
    totals = client.get(USAGE, {"days": 1}).json()["totals"]
    assert totals["answers"] == 0 and totals["share_without_llm"] is None
    assert totals["tokens_saved_estimate"] is None and totals["cost_saved_estimate_usd"] is None


def test_usage_is_for_admins_only(ledger, member_of):
    key, _ = key_client(ledger, scopes=("ask", "search", "ingest"))
    member = APIClient()
    member.force_login(member_of(ledger))
    admin = APIClient()
    admin.force_login(member_of(ledger, role=MemberRole.ADMIN))
    assert key.get(USAGE).status_code == 403
    assert member.get(USAGE).status_code == 403
    assert admin.get(USAGE).json()["totals"]["answers"] == 3


@pytest.mark.parametrize("days", ["0", "367", "-1", "abc", "1.5", "9" * 5000])
def test_a_bad_days_is_a_400(ledger, days):
    client, _ = key_client(ledger, scopes=("admin",))
    response = client.get(USAGE, {"days": days})
    assert response.status_code == 400
    assert "days" in response.json()["detail"]


def test_lists_cost_the_same_few_queries_however_many_messages(tenant, django_assert_max_num_queries):
    client, api_key = key_client(tenant)
    conversation = Conversation.objects.create(tenant=tenant, api_key=api_key, title="Long")
    for _ in range(6):
        _, answered = exchange(conversation)
        Feedback.objects.create(tenant=tenant, message=answered, api_key=api_key, rating="up")
        Conversation.objects.create(tenant=tenant, api_key=api_key, title="Another")
    # authentication, key use, tenant, scope checks and the audit row included
    with django_assert_max_num_queries(QUERY_BUDGET):
        assert len(client.get(messages_of(conversation.pk)).json()["results"]) == 12
    with django_assert_max_num_queries(QUERY_BUDGET):
        assert client.get(LIST).json()["count"] == 7
