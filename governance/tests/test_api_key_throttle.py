"""Wrong API keys are throttled per client address: after the limit, 429 with Retry-After before the
key is looked up, on the REST API and the OpenAI-compatible endpoint alike, until the window ends."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.urls import reverse

from governance import services
from governance.models import AuditEvent
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

LIMIT, WINDOW = 3, 300


@pytest.fixture
def throttle(settings):
    settings.TESSERA = {
        **settings.TESSERA,
        "API_KEY_FAILURE_LIMIT": LIMIT,
        "API_KEY_FAILURE_WINDOW_S": WINDOW,
    }


def _me(client, key, ip="203.0.113.5"):
    return client.get(reverse("api:me"), HTTP_AUTHORIZATION=f"Bearer {key}", REMOTE_ADDR=ip)


def test_unknown_keys_are_throttled_per_address_with_retry_after(client, throttle, django_assert_num_queries):
    tenant = TenantFactory()
    api_key, good = services.api_key_create(tenant=tenant, name="bot", scopes=["ask"], actor=Actor())
    # A guess names the real key's prefix with a wrong secret: its tenant sees the first attempts.
    guess = f"tsk_{api_key.prefix}_not-the-secret"
    with time_machine.travel(time.time() // WINDOW * WINDOW + 10, tick=False) as clock:
        assert [_me(client, guess).status_code for _ in range(LIMIT)] == [401] * LIMIT
        refused_before = AuditEvent.objects.filter(tenant=tenant, action="api.call").count()
        assert refused_before == LIMIT
        with django_assert_num_queries(0):  # not even the key's lookup, nor an audit row
            throttled = _me(client, guess)
        assert throttled.status_code == 429
        assert throttled["Content-Type"].startswith("application/problem+json")
        assert throttled.json()["code"] == "throttled"
        assert throttled["Retry-After"] == str(WINDOW - 10)
        # From this address even the right key waits, on the OpenAI-compatible endpoint too.
        assert _me(client, good).status_code == 429
        openai = client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {good}", REMOTE_ADDR="203.0.113.5")
        assert openai.status_code == 429 and "Retry-After" in openai
        assert AuditEvent.objects.filter(tenant=tenant, action="api.call").count() == refused_before
        # Another address is not concerned.
        assert _me(client, good, ip="198.51.100.8").status_code == 200
        # The window ends: the address may try again.
        clock.shift(WINDOW)
        assert _me(client, good).status_code == 200


def test_keys_that_are_not_even_keys_count_too(client, throttle):
    for _ in range(LIMIT):
        assert _me(client, "garbage").status_code == 401
    assert _me(client, "garbage").status_code == 429
