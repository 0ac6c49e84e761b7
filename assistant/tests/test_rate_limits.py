"""One ask rate (TESSERA_ASK_RATE, 20 a minute) for every way in: the browser chat, the REST API and
the OpenAI-compatible endpoint share a principal's budget; over it, 429 with Retry-After in each
interface's own shape, before anything is stored, searched or generated."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from assistant.models import Message, Role
from assistant.tests.fakes import scripted
from config.knobs import parsed_rate
from evaluation.answers import ask_each
from governance import services as governance_services
from governance.access import principal_for_membership
from governance.models import AuditEvent, Membership
from governance.services import Actor
from governance.tests.factories import TenantFactory
from ingest.tests.builders import HANDBOOK, ingest_now

pytestmark = pytest.mark.django_db

# Five seconds into a minute: a fixed window of a minute ends 55 seconds later.
MINUTE_START = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
INTO_THE_MINUTE = MINUTE_START + timedelta(seconds=5)


@pytest.fixture
def frozen() -> Iterator[Any]:
    with time_machine.travel(INTO_THE_MINUTE, tick=False) as traveller:
        yield traveller


@pytest.fixture
def tenant():
    return TenantFactory()


def _browser(user: Any) -> Client:
    """A signed-in browser that sends its CSRF token, as the chat page's form does."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get(reverse("home")).status_code == 200  # sets the CSRF cookie
    browser.defaults["HTTP_X_CSRFTOKEN"] = browser.cookies["csrftoken"].value
    return browser


def _chat_ask(browser: Client, question: str = "How long is parental leave?", htmx: bool = True) -> Any:
    headers: dict[str, Any] = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return browser.post(reverse("assistant:ask"), {"question": question}, **headers)


def _api_ask(client: Client, question: str = "How long is parental leave?", **headers: Any) -> Any:
    return client.post(reverse("api:ask"), {"question": question}, content_type="application/json", **headers)


def _completion(client: Client, stream: bool = False, **headers: Any) -> Any:
    body = {
        "model": "tessera",
        "messages": [{"role": "user", "content": "Parental leave?"}],
        "stream": stream,
    }
    return client.post(reverse("openai:chat_completions"), body, content_type="application/json", **headers)


@dataclass(frozen=True)
class Item:
    """An evaluation's question, as ``ask_each`` takes them."""

    id: str
    text: str


def _refusals() -> Any:
    return AuditEvent.objects.filter(action="question.rate_limited")


def test_the_21st_chat_ask_in_a_minute_is_a_429_said_in_the_chat(tenant, member_of, use_llm, frozen):
    ingest_now(tenant, "handbook.md", HANDBOOK.encode())
    use_llm(scripted(*["Sixteen weeks [1]."] * 20))  # a 21st LLM call would find no reply
    user = member_of(tenant)
    browser = _browser(user)
    for _ in range(20):
        turn = _chat_ask(browser)
        assert turn.status_code == 200, turn.content
        asked = Message.objects.filter(role=Role.USER).latest("id")
        b"".join(browser.get(reverse("assistant:answer_stream", args=[asked.pk])).streaming_content)
    assert Message.objects.filter(role=Role.ASSISTANT, llm_called=True).count() == 20

    refused = _chat_ask(browser)
    assert refused.status_code == 429 and refused["Retry-After"] == "55"
    html = refused.content.decode()
    assert 'data-kind="rate_limited"' in html and 'role="alert"' in html and "<html" not in html
    assert "You have reached the limit of 20 questions a minute" in html and "Try again in 55 seconds" in html
    assert Message.objects.filter(role=Role.USER).count() == 20  # the refused ask stored nothing
    assert Message.objects.count() == 40

    page = _chat_ask(browser, htmx=False)  # without JavaScript: the chat page, with the message in it
    assert page.status_code == 429 and page["Retry-After"] == "55"
    assert "<html" in page.content.decode() and "the limit of 20 questions a minute" in page.content.decode()

    audit = _refusals().get()  # one row for the window, however many asks it refused
    assert audit.tenant_id == tenant.pk and audit.actor_id == user.pk
    assert audit.extra == {"limit": 20, "window_s": 60, "retry_after": 55}


def test_the_chat_the_api_and_the_openai_endpoint_share_one_budget(tenant, member_of, frozen):
    browser = _browser(member_of(tenant))
    assert [_chat_ask(browser).status_code for _ in range(10)] == [200] * 10
    assert [_api_ask(browser).status_code for _ in range(10)] == [200] * 10  # the same user's session

    for refused in (_chat_ask(browser), _api_ask(browser), _completion(browser)):
        assert refused.status_code == 429 and refused["Retry-After"] == "55"
    problem = _api_ask(browser)
    assert problem["Content-Type"] == "application/problem+json"
    assert problem.json()["code"] == "rate_limited" and problem.json()["status"] == 429
    assert "You have reached the limit of 20 questions a minute" in problem.json()["detail"]
    assert Message.objects.filter(role=Role.USER).count() == 20
    assert _refusals().count() == 1
    # The API's own trail still has one row per call, refused ones included.
    assert AuditEvent.objects.filter(action="api.call", extra__status=429).count() == 3


def test_the_openai_endpoint_answers_429_in_openais_shape_per_key(tenant, frozen):
    _, raw = governance_services.api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    _, other = governance_services.api_key_create(tenant=tenant, name="bot2", scopes=["ask"], actor=Actor())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    assert [_completion(Client(), **auth).status_code for _ in range(20)] == [200] * 20

    for refused in (_completion(Client(), **auth), _completion(Client(), stream=True, **auth)):
        assert refused.status_code == 429 and refused["Retry-After"] == "55"
        assert refused["Content-Type"] == "application/problem+json"  # not a stream that fails later
        assert refused.json()["error"] == {
            "message": refused.json()["detail"],
            "type": "rate_limit_error",
            "code": "rate_limited",
        }
    assert Message.objects.filter(role=Role.USER).count() == 20
    assert _completion(Client(), HTTP_AUTHORIZATION=f"Bearer {other}").status_code == 200  # its own budget
    assert _refusals().get().actor_api_key_id is not None


def test_two_users_do_not_share_a_budget(tenant, member_of, frozen):
    first, second = _browser(member_of(tenant)), _browser(member_of(tenant))
    assert [_chat_ask(first).status_code for _ in range(21)] == [200] * 20 + [429]
    assert _chat_ask(second).status_code == 200
    assert _api_ask(second).status_code == 200
    assert Message.objects.filter(role=Role.USER).count() == 22


def test_a_new_window_allows_again(tenant, member_of, frozen):
    browser = _browser(member_of(tenant))
    assert [_chat_ask(browser).status_code for _ in range(21)] == [200] * 20 + [429]
    frozen.move_to(MINUTE_START + timedelta(seconds=59))
    assert _chat_ask(browser)["Retry-After"] == "1"  # still this minute (refused asks count too)

    frozen.move_to(MINUTE_START + timedelta(minutes=1))
    assert [_chat_ask(browser).status_code for _ in range(21)] == [200] * 20 + [429]
    assert Message.objects.filter(role=Role.USER).count() == 40
    assert _refusals().count() == 2  # one for each window


def test_the_rate_is_a_setting(tenant, member_of, settings, frozen):
    settings.TESSERA = {**settings.TESSERA, "ASK_RATE": (2, 3600)}
    browser = _browser(member_of(tenant))
    assert [_chat_ask(browser).status_code for _ in range(3)] == [200, 200, 429]
    refused = _api_ask(browser)
    assert int(refused["Retry-After"]) == 3600 - 30 * 60 - 5  # the hour ends at 10:00
    assert "the limit of 2 questions an hour. Try again in 30 minutes." in refused.json()["detail"]


def test_an_operators_evaluation_is_not_limited(tenant, member_of, settings):
    settings.TESSERA = {**settings.TESSERA, "ASK_RATE": (1, 60)}
    principal = principal_for_membership(Membership.objects.get(user=member_of(tenant)))

    items = [Item(str(n), f"Question {n}?") for n in range(3)]
    refused = []
    answered = list(ask_each(items, principal=principal, refused=refused, unit="query"))
    assert len(answered) == 3 and refused == [] and not _refusals().exists()


@pytest.mark.parametrize(
    ("written", "rate"),
    [("20/minute", (20, 60)), ("5/h", (5, 3600)), ("1/second", (1, 1)), ("100/day", (100, 86400))],
)
def test_a_rate_is_read_as_drf_writes_it(written, rate):
    assert parsed_rate("TESSERA_ASK_RATE", written) == rate


@pytest.mark.parametrize("written", ["", "20", "0/minute", "-1/minute", "twenty/minute", "20/fortnight"])
def test_a_rate_that_means_nothing_stops_the_start(written):
    with pytest.raises(ImproperlyConfigured, match="TESSERA_ASK_RATE must be a count per second"):
        parsed_rate("TESSERA_ASK_RATE", written)
