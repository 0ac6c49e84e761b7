"""The assistant settings page and service: validation, audit of what changed, no secret shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.models import AssistantSettings
from assistant.policy import llm_config_for
from assistant.tenant_settings import assistant_settings_update
from config.errors import ApplicationError
from governance.models import AuditEvent, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

URL = "assistant_admin:settings"
VALID = {
    "llm_provider": "openai",
    "llm_model": "qwen2.5-7b-instruct",
    "llm_base_url": "http://127.0.0.1:8000/v1",
    "llm_api_key_env": "ACME_LLM_KEY",
    "llm_timeout_s": "20",
    "monthly_token_budget": "100000",
    "answer_cache": "true",
    "answer_cache_threshold": "0.93",
}


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN, username="root"))
    client.tenant = tenant
    return client


def test_saving_valid_settings_changes_the_policy_and_audits_the_changes(admin_client, monkeypatch):
    tenant = admin_client.tenant
    monkeypatch.setenv("ACME_LLM_KEY", "sk-very-secret-value")
    response = admin_client.post(reverse(URL), VALID)
    assert response.status_code == 302
    saved = AssistantSettings.objects.get(tenant=tenant)
    assert (saved.llm_provider, saved.llm_timeout_s, saved.answer_cache, saved.answer_cache_threshold) == (
        "openai", 20.0, True, 0.93,
    )  # fmt: skip
    config = llm_config_for(tenant)
    assert (config.model, config.base_url, config.api_key_env) == (
        "qwen2.5-7b-instruct", "http://127.0.0.1:8000/v1", "ACME_LLM_KEY",
    )  # fmt: skip
    event = AuditEvent.objects.get(tenant=tenant, action="settings.update")
    assert event.extra["changed"]["llm_model"] == ["", "qwen2.5-7b-instruct"]
    assert event.actor_label == "root"
    page = admin_client.get(reverse(URL)).content.decode()
    assert 'value="ACME_LLM_KEY"' in page and "sk-very-secret-value" not in page
    assert "Settings saved." in page
    # saving the same values again changes nothing and writes no audit row
    admin_client.post(reverse(URL), VALID)
    assert AuditEvent.objects.filter(tenant=tenant, action="settings.update").count() == 1


def test_clearing_a_field_goes_back_to_the_site_default(admin_client, settings):
    tenant = admin_client.tenant
    admin_client.post(reverse(URL), VALID)
    admin_client.post(reverse(URL), VALID | {"llm_provider": "", "llm_model": "", "answer_cache": "unknown"})
    saved = AssistantSettings.objects.get(tenant=tenant)
    assert saved.llm_provider == "" and saved.answer_cache is None
    assert llm_config_for(tenant).provider.value == settings.TESSERA["LLM_PROVIDER"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("llm_base_url", "not a url", "Enter a valid URL"),
        ("answer_cache_threshold", "0.5", "greater than or equal to 0.85"),
        ("answer_cache_threshold", "1.5", "less than or equal to 1"),
        ("llm_provider", "skynet", "Select a valid choice"),
        ("llm_timeout_s", "0", "more than 0"),
        ("llm_timeout_s", "-3", "more than 0"),
        ("llm_api_key_env", "sk-abc123 secret", "name of an environment variable"),
        ("monthly_token_budget", "-1", "greater than or equal to 0"),
    ],
)
def test_invalid_values_are_a_400_with_the_error_at_the_field(admin_client, field, value, message):
    response = admin_client.post(reverse(URL), VALID | {field: value})
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    assert f'id="id_{field}_error"' in html
    assert not AssistantSettings.objects.filter(tenant=admin_client.tenant).exists()
    assert not AuditEvent.objects.filter(action="settings.update").exists()
    if field == "llm_api_key_env":
        assert value not in html.split("<form")[0]  # not echoed outside the field


def test_the_service_enforces_the_rules_without_the_form():
    tenant = TenantFactory()
    actor = Actor(label="ops")
    with pytest.raises(ApplicationError) as bad:
        assistant_settings_update(
            tenant=tenant, actor=actor, values={"answer_cache_threshold": 0.2, "llm_timeout_s": 9999.0}
        )
    assert set(bad.value.extra["fields"]) == {"answer_cache_threshold", "llm_timeout_s"}
    with pytest.raises(ApplicationError, match="Unknown settings: tenant_id"):
        assistant_settings_update(tenant=tenant, actor=actor, values={"tenant_id": 3})
    assert not AssistantSettings.objects.filter(tenant=tenant).exists()
    assistant_settings_update(tenant=tenant, actor=actor, values={"monthly_token_budget": 5})
    assert AssistantSettings.objects.get(tenant=tenant).monthly_token_budget == 5


def test_settings_are_per_tenant(admin_client):
    other = TenantFactory()
    AssistantSettings.objects.create(tenant=other, llm_model="their-model", llm_api_key_env="THEIR_KEY")
    page = admin_client.get(reverse(URL)).content.decode()
    assert "their-model" not in page and "THEIR_KEY" not in page
    admin_client.post(reverse(URL), VALID)
    assert AssistantSettings.objects.get(tenant=other).llm_model == "their-model"


def test_members_get_403(client, member_of):
    client.force_login(member_of(TenantFactory(), role=Role.MEMBER))
    assert client.get(reverse(URL)).status_code == 403
    assert client.post(reverse(URL), VALID).status_code == 403
    assert not AssistantSettings.objects.exists()
