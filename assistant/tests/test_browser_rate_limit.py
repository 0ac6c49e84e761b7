"""In a real browser: an ask over the rate is refused in the chat itself (htmx swaps the 429's
message in where the answer would be), and the question stays in the box to send again."""

from __future__ import annotations

import pytest

from assistant.models import Message
from governance.tests.factories import TenantFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_ask_over_the_rate_is_said_in_the_chat(page, live_server, member_of, settings):
    settings.TESSERA = {**settings.TESSERA, "ASK_RATE": (1, 86400)}
    member_of(TenantFactory(name="Acme Corp"), username="sam")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#conversation")

    page.get_by_label("Your question").fill("How long is parental leave?")
    page.get_by_label("Your question").press("Enter")
    page.locator("article.assistant[data-kind='not_found']").wait_for(timeout=15_000)

    page.get_by_label("Your question").fill("And meals?")
    page.get_by_label("Your question").press("Enter")
    refused = page.locator("article.assistant[data-kind='rate_limited']")
    refused.wait_for(timeout=15_000)
    assert "You have reached the limit of 1 question a day." in refused.inner_text()
    assert refused.get_attribute("role") == "alert"
    assert page.get_by_label("Your question").input_value() == "And meals?"  # kept to send later
    assert list(Message.objects.filter(role="user").values_list("text", flat=True)) == [
        "How long is parental leave?"
    ]
