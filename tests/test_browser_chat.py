"""In a real browser: ask in the chat, watch the answer stream in over SSE, follow up in the same
conversation, and see LLM output rendered inert."""

from __future__ import annotations

import pytest

from assistant.models import Message
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


def test_a_question_streams_its_answer_with_sources(page, live_server, member_of, use_llm):
    tenant = TenantFactory(name="Acme Corp")
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    member_of(tenant, username="sam")
    use_llm(
        scripted(
            "Sixteen weeks [1]. Employees get sixteen weeks of paid parental leave [1]. "
            '<img src=x onerror="window.pwned=1"> [1]',
            "Forty euros a day [1].",
        )
    )
    _sign_in(page, live_server, "sam")
    page.get_by_label("Your question").fill("How long is parental leave?")
    page.get_by_label("Your question").press("Enter")
    answer = page.locator("article.assistant[data-kind='answered']")
    answer.wait_for(timeout=15_000)
    assert "Sixteen weeks" in answer.inner_text()
    assert answer.locator("a.cite").first.inner_text() == "[1]"
    assert "Employee handbook" in answer.locator("ol.citations").inner_text()
    assert page.evaluate("window.pwned") is None  # the LLM's HTML was shown as text
    assert page.get_by_label("Your question").input_value() == ""  # the box is ready again
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-answer.png"))

    page.get_by_label("Your question").fill("And meals?")
    page.get_by_label("Your question").press("Enter")
    page.locator("article.assistant[data-kind]").nth(1).wait_for(timeout=15_000)  # answered or not
    conversations = {m.conversation_id for m in Message.objects.filter(tenant=tenant)}
    assert len(conversations) == 1  # the follow-up stayed in the conversation
