"""In a real browser: the employee chat end to end. An answer streams in with a citation marker;
the marker opens the passage beside it (cited span highlighted, document link, keyboard and focus
handled); feedback is given and changed; a conversation is renamed and deleted; hostile document
text and LLM output stay inert; axe finds no serious violation."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Feedback, Message
from assistant.tests.fakes import scripted
from conftest import ARTIFACTS
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#conversation")


def _ask(page, question):
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")
    count = page.locator("article.assistant[data-kind]").count()
    page.locator("article.assistant[data-kind]").nth(count).wait_for(timeout=15_000)
    return page.locator("article.assistant[data-kind]").nth(count)


def _active_id(page):
    return page.evaluate("document.activeElement && document.activeElement.id")


def test_answer_citation_passage_feedback_keyboard_and_axe(page, live_server, member_of, use_llm, axe):
    tenant = TenantFactory(name="Acme Corp")
    version = ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    user = member_of(tenant, username="sam")
    use_llm(scripted("Employees get **sixteen weeks** of paid parental leave [1]."))
    _sign_in(page, live_server, "sam")

    answer = _ask(page, "How long is parental leave?")
    assert answer.get_attribute("data-kind") == "answered"
    assert "sixteen weeks" in answer.locator("strong").inner_text()  # Markdown, rendered on the server
    assert answer.get_by_test_id("answer-badge").inner_text().startswith("Answered from documents")
    assert _active_id(page) == "question"  # focus is back in the box after sending
    sidebar = page.get_by_role("navigation", name="Conversations")
    assert sidebar.get_by_role("link", name="How long is parental leave?").is_visible()  # listed at once

    marker = answer.locator("a.cite").first
    assert marker.inner_text() == "[1]"
    marker.click()
    panel = page.locator("#passage-panel")
    panel.locator("mark").first.wait_for()
    assert panel.is_visible() and _active_id(page) == "passage-title"  # focus moved into the panel
    cited = panel.locator(".passage-text mark").all_inner_texts()
    assert any("sixteen weeks of paid parental leave" in span for span in cited), cited
    assert panel.locator("h2").inner_text() == "Employee handbook"
    assert panel.locator(".passage-place").inner_text() == "Source [1] · Parental leave"
    file_link = panel.get_by_role("link", name="Download the original file")
    assert file_link.get_attribute("href") == f"/documents/{version.document_id}/file/"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-open-passage.png"), full_page=True)
    axe(page)  # the chat with an answer and an open passage

    page.keyboard.press("Escape")
    assert panel.is_hidden()
    assert page.evaluate("document.activeElement.classList.contains('cite')")  # focus back on [1]
    page.keyboard.press("Enter")  # the keyboard opens it again
    panel.locator("mark").first.wait_for()
    panel.get_by_role("button", name="Close the passage").click()
    assert panel.is_hidden()

    answer.get_by_role("button", name="Yes").click()
    answer.get_by_text("Thank you").wait_for()
    assert Feedback.objects.get(message__tenant=tenant, user=user).rating == "up"
    answer.get_by_label("Comment (optional, sent with Yes or No)").fill("It missed the country rules")
    answer.get_by_role("button", name="No").click()
    answer.locator("button[value='down'][aria-pressed='true']").wait_for()
    feedback = Feedback.objects.get(message__tenant=tenant, user=user)
    assert (feedback.rating, feedback.comment) == ("down", "It missed the country rules")

    comment = answer.locator("input[name='comment']")
    comment.evaluate("input => input.removeAttribute('maxlength')")  # as a hand-made request could
    comment.fill("x" * 2001)
    answer.get_by_role("button", name="Yes").click()
    assert "limited to 2000 characters" in answer.get_by_role("alert").inner_text()
    assert Feedback.objects.get(message__tenant=tenant, user=user).rating == "down"  # unchanged


def test_rename_and_delete_a_conversation(page, live_server, member_of, use_llm):
    tenant = TenantFactory(name="Acme Corp")
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    member_of(tenant, username="sam")
    use_llm(scripted("Sixteen weeks [1]."))
    _sign_in(page, live_server, "sam")
    box = page.get_by_label("Your question")
    box.fill("How long is")
    box.press("Shift+Enter")  # a new line, not a send
    box.type("parental leave?")
    assert box.input_value() == "How long is\nparental leave?"
    assert not Message.objects.filter(tenant=tenant).exists()
    _ask(page, "How long is parental leave?")
    conversation = Conversation.objects.get(tenant=tenant)
    page.goto(f"{live_server.url}/?c={conversation.pk}")

    sidebar = page.get_by_role("navigation", name="Conversations")
    sidebar.locator("summary").first.click()
    sidebar.get_by_label("New title").fill("Leave questions")
    sidebar.get_by_role("button", name="Rename").click()
    sidebar.get_by_role("link", name="Leave questions").wait_for()
    conversation.refresh_from_db()
    assert conversation.title == "Leave questions"

    sidebar.locator("summary").first.click()
    sidebar.get_by_role("link", name="Delete…").click()
    page.get_by_role("heading", name="Delete this conversation?").wait_for()
    assert Conversation.objects.filter(pk=conversation.pk).exists()  # not before confirming
    page.get_by_role("button", name="Delete conversation").click()
    page.get_by_text("Conversation deleted.").wait_for()
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert (
        page.get_by_role("navigation", name="Conversations")
        .get_by_role("link", name="Leave questions")
        .count()
        == 0
    )


HOSTILE_DOCUMENT = (
    "Parental leave policy.\n\n"
    "Employees get sixteen weeks of paid parental leave. "
    "<script>alert('doc-script')</script> "
    "<img src=x onerror=\"alert('doc-img')\"> "
    "[open](javascript:alert('doc-link')) and [data](data:text/html,<script>alert(1)</script>).\n"
)
HOSTILE_ANSWER = (
    "Sixteen weeks [1]. <script>alert('llm-script')</script> "
    "<img src=x onerror=\"alert('llm-img')\"> [click](javascript:alert('llm-link')) "
    "[again](JaVaScRiPt:alert('llm-link2')) [d](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) "
    "<a href=\"javascript:alert('llm-a')\">raw</a>"
)


def test_hostile_document_text_and_llm_output_render_inert(page, live_server, member_of, use_llm, axe):
    tenant = TenantFactory(name="Acme Corp")
    ingest_now(tenant, "policy.txt", HOSTILE_DOCUMENT.encode())
    member_of(tenant, username="sam")
    use_llm(scripted(HOSTILE_ANSWER))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _sign_in(page, live_server, "sam")

    answer = _ask(page, "How long is parental leave?")
    assert Message.objects.get(tenant=tenant, role="assistant").llm_called
    assert "<script>alert('llm-script')</script>" in answer.locator(".answer-text").inner_text()  # as text
    answer.locator("a.cite").first.click()
    panel = page.locator("#passage-panel")
    panel.locator(".passage-text").wait_for()
    assert "<script>alert('doc-script')</script>" in panel.locator(".passage-text").inner_text()

    for root in ("#conversation", "#passage-panel"):
        assert page.locator(f"{root} script, {root} img, {root} iframe, {root} object").count() == 0
        hrefs = page.eval_on_selector_all(f"{root} a[href]", "links => links.map(a => a.href)")
        assert not [h for h in hrefs if not h.startswith(live_server.url) and not h.startswith("http")], hrefs
        assert not [h for h in hrefs if h.lower().startswith(("javascript:", "data:", "vbscript:"))], hrefs
        handlers = page.eval_on_selector_all(
            f"{root} *",
            "nodes => nodes.flatMap(n => [...n.attributes].map(a => a.name)).filter(a => a.startsWith('on'))",
        )
        assert handlers == []
    page.wait_for_timeout(300)  # an onerror would have fired by now
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-hostile-inert.png"), full_page=True)
    axe(page)
