"""The chat's own pages over HTTP: open a cited passage, rate an answer, rename and delete a
conversation; every one of them 404 for another user's or another tenant's object."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.chat.selectors import feedback_summary, segments
from assistant.models import Citation, Conversation, Feedback, Message
from assistant.tests.fakes import scripted
from governance.models import AuditEvent, Role
from governance.services import Actor, access_group_create
from governance.tests.factories import TenantFactory
from ingest.models import Document
from ingest.services import document_access_groups_set
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenant():
    tenant = TenantFactory()
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    return tenant


def _answered(client, user, question="How long is parental leave?"):
    """Ask as ``user`` and read the streamed answer through; the stored assistant message."""
    client.force_login(user)
    client.post(reverse("assistant:ask"), {"question": question}, HTTP_HX_REQUEST="true")
    asked = Message.objects.filter(role="user").latest("id")
    b"".join(client.get(reverse("assistant:answer_stream", args=[asked.pk])).streaming_content)
    return Message.objects.get(reply_to=asked)


def test_a_cited_passage_shows_its_span_title_place_and_file_link(client, member_of, tenant, use_llm):
    use_llm(scripted("Sixteen weeks of paid leave [1]."))
    answer = _answered(client, member_of(tenant))
    citation = answer.citations.get(marker=1)
    assert citation.spans, "the evidence sentences' offsets are stored with the citation"
    url = reverse("assistant:passage", args=[citation.pk])

    panel = client.get(url, HTTP_HX_REQUEST="true")
    assert panel.status_code == 200
    html = panel.content.decode()
    assert (
        "<mark>Employees get sixteen weeks of paid parental leave after six months of service.</mark>" in html
    )
    assert "Employee handbook" in html and "Parental leave" in html  # title, heading path
    assert reverse("ingest:document_file", args=[citation.document_id]) in html
    assert "data-close-passage" in html and "<html" not in html  # the panel's partial

    page = client.get(url)  # without JavaScript: a page of its own
    assert page.status_code == 200 and "<html" in page.content.decode() and "<mark>" in page.content.decode()

    home = client.get(reverse("home"), {"c": answer.conversation_id}).content.decode()
    assert f'<a class="cite" href="{url}"' in home and "Answered from documents" in home


def test_a_passage_is_404_for_another_user_another_tenant_or_once_hidden(client, member_of, tenant, use_llm):
    use_llm(scripted("Sixteen weeks [1]."))
    owner_of_answer = member_of(tenant)
    citation = _answered(client, owner_of_answer).citations.get(marker=1)
    url = reverse("assistant:passage", args=[citation.pk])

    client.force_login(member_of(tenant, role=Role.OWNER))  # conversations are personal, even to owners
    assert client.get(url).status_code == 404
    client.force_login(member_of(TenantFactory()))
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404

    client.force_login(owner_of_answer)
    assert client.get(url).status_code == 200
    group = access_group_create(tenant=tenant, name="HR only", actor=Actor())
    document_access_groups_set(document=Document.objects.get(tenant=tenant), groups=[group], actor=Actor())
    assert client.get(url).status_code == 404  # the chunk is hidden from this member now
    assert client.get(reverse("assistant:passage", args=[citation.pk + 999])).status_code == 404


def test_feedback_is_created_then_updated_once_per_user_with_audit_rows(client, member_of, tenant, use_llm):
    use_llm(scripted("Sixteen weeks [1]."))
    user = member_of(tenant)
    answer = _answered(client, user)
    url = reverse("assistant:feedback", args=[answer.pk])

    first = client.post(url, {"rating": "up"}, HTTP_HX_REQUEST="true")
    assert first.status_code == 200 and 'aria-pressed="true"' in first.content.decode()
    assert "Thank you" in first.content.decode()
    second = client.post(url, {"rating": "down", "comment": "  Missing the country rules. "})
    assert second.status_code == 302 and second["Location"].endswith(f"#answer-{answer.reply_to_id}")

    feedback = Feedback.objects.get(message=answer)
    assert (feedback.rating, feedback.comment, feedback.user_id) == (
        "down",
        "Missing the country rules.",
        user.pk,
    )
    actions = list(
        AuditEvent.objects.filter(tenant=tenant, action__startswith="feedback.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["feedback.changed", "feedback.given"]
    home = client.get(reverse("home"), {"c": answer.conversation_id}).content.decode()
    assert 'value="Missing the country rules."' in home  # the user's verdict is shown again

    assert client.post(url, {"rating": "meh"}).status_code == 400
    assert client.post(url, {"rating": "up", "comment": "x" * 2001}).status_code == 400
    assert (
        client.post(reverse("assistant:feedback", args=[answer.reply_to_id]), {"rating": "up"}).status_code
        == 404
    )
    client.force_login(member_of(tenant))
    assert client.post(url, {"rating": "up"}).status_code == 404  # not this user's answer
    client.force_login(member_of(TenantFactory()))
    assert client.post(url, {"rating": "up"}).status_code == 404
    assert Feedback.objects.get(message=answer).rating == "down"


def test_feedback_summary_counts_per_tenant_with_recent_comments(client, member_of, tenant, use_llm):
    use_llm(scripted("Sixteen weeks [1].", "Sixteen weeks [1].", "Forty euros [1]."))
    for rating, comment in (("up", ""), ("down", "Too short")):
        answer = _answered(client, member_of(tenant))
        client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": rating, "comment": comment})
    other = TenantFactory()
    ingest_now(other, "handbook.md", HANDBOOK.encode())
    answer = _answered(client, member_of(other), "Meals?")
    client.post(reverse("assistant:feedback", args=[answer.pk]), {"rating": "down", "comment": "Elsewhere"})

    summary = feedback_summary(tenant_id=tenant.pk)
    assert (summary.up, summary.down, summary.total) == (1, 1, 2)
    assert [c.comment for c in summary.recent_comments] == ["Too short"]
    assert feedback_summary(tenant_id=other.pk).down == 1


def test_rename_and_delete_a_conversation_with_confirmation(client, member_of, tenant):
    user = member_of(tenant)
    answer = _answered(client, user)
    conversation = answer.conversation
    rename = reverse("assistant:conversation_rename", args=[conversation.pk])

    response = client.post(rename, {"title": "  Leave   questions "})
    assert response.status_code == 302 and response["Location"].endswith(f"?c={conversation.pk}")
    conversation.refresh_from_db()
    assert conversation.title == "Leave questions"
    assert client.post(rename, {"title": "   "}).status_code == 400
    assert client.post(rename, {"title": "x" * 201}).status_code == 400
    assert client.get(rename).status_code == 405

    delete = reverse("assistant:conversation_delete", args=[conversation.pk])
    confirm = client.get(delete)
    assert confirm.status_code == 200 and "Delete this conversation?" in confirm.content.decode()
    assert Conversation.objects.filter(pk=conversation.pk).exists()  # asking is not deleting
    client.force_login(member_of(tenant, role=Role.OWNER))
    assert client.post(rename, {"title": "Mine now"}).status_code == 404
    assert client.get(delete).status_code == 404 and client.post(delete).status_code == 404
    client.force_login(member_of(TenantFactory()))
    assert client.post(delete).status_code == 404

    client.force_login(user)
    assert client.post(delete).status_code == 302
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Message.objects.filter(conversation_id=conversation.pk).exists()
    assert not Citation.objects.filter(message=answer).exists()
    actions = set(AuditEvent.objects.filter(tenant=tenant).values_list("action", flat=True))
    assert {"conversation.renamed", "conversation.deleted"} <= actions
    assert client.post(delete).status_code == 404  # gone


def test_badges_say_where_each_answer_came_from(client, member_of, tenant, use_llm, use_router):
    use_llm(scripted("Sixteen weeks [1]. The moon is made of cheese [1]."))
    use_router()
    user = member_of(tenant)
    answered = _answered(client, user)
    greeting = _answered(client, user, "hello there")
    home = client.get(reverse("home"), {"c": answered.conversation_id}).content.decode()
    assert "Answered from documents" in home and '<span class="unsupported"' in home
    assert greeting.kind == "no_llm"
    assert (
        f"No LLM needed ({greeting.route.replace('_', ' ')})"
        in client.get(reverse("home"), {"c": greeting.conversation_id}).content.decode()
    )


def test_segments_cut_text_at_clamped_merged_spans():
    assert [(s.text, s.cited) for s in segments("abcdef", [[4, 99]])] == [("abcd", False), ("ef", True)]
    assert [(s.text, s.cited) for s in segments("abcdef", [[1, 3], [2, 4]])] == [
        ("a", False),
        ("bc", True),
        ("d", True),
        ("ef", False),
    ]


@pytest.mark.parametrize(
    ("fields", "badge"),
    [
        ({"kind": "answered", "llm_called": True}, "Answered from documents"),
        ({"kind": "not_found"}, "Not in your documents"),
        ({"kind": "extractive"}, "Extractive fallback"),
        ({"kind": "no_llm", "route": "out_of_scope"}, "No LLM needed (out of scope)"),
        ({"kind": "no_llm", "route": "search"}, "No LLM needed (search)"),
        ({"kind": "answered", "cached_from_id": 1}, "From the answer cache"),
    ],
)
def test_answer_badge(fields, badge):
    from assistant.templatetags.answers import answer_badge

    assert answer_badge(Message(**fields)) == badge


def test_asking_in_a_new_conversation_lists_it_in_the_sidebar_at_once(client, member_of, tenant):
    client.force_login(member_of(tenant))
    response = client.post(reverse("assistant:ask"), {"question": "Parental leave?"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    conversation = Conversation.objects.get(tenant=tenant)
    assert '<ul id="conversation-list" hx-swap-oob="true">' in html
    assert f'href="/?c={conversation.pk}" aria-current="page">Parental leave?</a>' in html


def test_cited_spans_locate_the_evidence_sentences_in_reading_order():
    from assistant.answering.verify import cited_spans

    text = "Intro. Leave is sixteen weeks. Meals are paid. Leave is sixteen weeks."
    spans = cited_spans(text, ["Leave is sixteen weeks.", "Meals are paid.", "Not in the text."])
    assert [text[s:e] for s, e in spans] == ["Leave is sixteen weeks.", "Meals are paid."]
    assert spans[0][0] == 7
