"""The assistant settings page and service: validation, audit of what changed, no secret shown; the LLM
is one of the operator's connections, and a tenant's own key is stored encrypted, write-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assistant.answering.llm.policy import llm_config_for
from assistant.models import AssistantSettings
from assistant.tenant_settings.services import assistant_api_key_set, assistant_settings_update
from config.errors import ApplicationError
from governance.models import AuditEvent, Role
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

URL = "assistant_admin:settings"
CONNECTIONS = {
    "vllm": {"label": "Our vLLM", "base_url": "http://vllm.internal/v1", "api_key_env": "VLLM_KEY"},
    "own-key": {"label": "OpenAI", "base_url": "https://api.openai.com/v1", "tenant_key": True,
                "models": ["mini", "large"]},
}  # fmt: skip
VALID = {
    "llm_connection": "vllm",
    "llm_model": "qwen2.5-7b-instruct",
    "llm_timeout_s": "20",
    "monthly_token_budget": "100000",
    "answer_cache": "true",
    "answer_cache_threshold": "0.93",
}


@pytest.fixture(autouse=True)
def connections(settings):
    settings.TESSERA = {**settings.TESSERA, "LLM_CONNECTIONS": CONNECTIONS}


@pytest.fixture
def admin_client(client, member_of):
    tenant = TenantFactory()
    client.force_login(member_of(tenant, role=Role.ADMIN, username="root"))
    client.tenant = tenant
    return client


def test_saving_valid_settings_changes_the_policy_and_audits_the_changes(admin_client, monkeypatch):
    tenant = admin_client.tenant
    monkeypatch.setenv("VLLM_KEY", "sk-very-secret-value")
    page = admin_client.get(reverse(URL)).content.decode()
    assert "Our vLLM" in page and "vllm.internal" not in page and "VLLM_KEY" not in page
    response = admin_client.post(reverse(URL), VALID)
    assert response.status_code == 302
    saved = AssistantSettings.objects.get(tenant=tenant)
    assert (saved.llm_connection, saved.llm_timeout_s, saved.answer_cache, saved.answer_cache_threshold) == (
        "vllm", 20.0, True, 0.93,
    )  # fmt: skip
    config = llm_config_for(tenant)
    assert (config.model, config.base_url, config.api_key) == (
        "qwen2.5-7b-instruct", "http://vllm.internal/v1", "sk-very-secret-value",
    )  # fmt: skip
    event = AuditEvent.objects.get(tenant=tenant, action="settings.update")
    assert event.extra["changed"]["llm_model"] == ["", "qwen2.5-7b-instruct"]
    assert event.actor_label == "root"
    page = admin_client.get(reverse(URL)).content.decode()
    assert 'value="vllm" selected' in page and "sk-very-secret-value" not in page
    assert "Settings saved." in page
    # saving the same values again changes nothing and writes no audit row
    admin_client.post(reverse(URL), VALID)
    assert AuditEvent.objects.filter(tenant=tenant, action="settings.update").count() == 1


def test_a_server_url_or_a_server_variable_cannot_be_set(admin_client, monkeypatch):
    """The fields that sent SECRET_KEY to a server of the tenant admin's choosing are gone: posted,
    they change nothing, and no connection can be named that the operator did not define."""
    tenant = admin_client.tenant
    posted = VALID | {"llm_base_url": "http://127.0.0.1:8765/v1", "llm_api_key_env": "SECRET_KEY"}
    assert admin_client.post(reverse(URL), posted).status_code == 302
    config = llm_config_for(tenant)
    assert config.base_url == "http://vllm.internal/v1" and config.api_key != settings_secret()
    response = admin_client.post(reverse(URL), VALID | {"llm_connection": "http://127.0.0.1:8765/v1"})
    assert response.status_code == 400 and "Select a valid choice" in response.content.decode()
    with pytest.raises(ApplicationError, match="Unknown settings: llm_api_key_env"):
        assistant_settings_update(tenant=tenant, actor=Actor(), values={"llm_api_key_env": "SECRET_KEY"})
    with pytest.raises(ApplicationError, match="connections this server offers"):
        assistant_settings_update(tenant=tenant, actor=Actor(), values={"llm_connection": "nope"})


def settings_secret():
    from django.conf import settings

    return settings.SECRET_KEY


def test_a_tenants_own_key_is_stored_encrypted_shown_never_and_audited_without_itself(admin_client):
    tenant = admin_client.tenant
    posted = VALID | {"llm_connection": "own-key", "llm_model": "large", "api_key": "sk-tenant-123"}
    assert admin_client.post(reverse(URL), posted).status_code == 302
    saved = AssistantSettings.objects.get(tenant=tenant)
    assert saved.llm_api_key_encrypted and "sk-tenant-123" not in saved.llm_api_key_encrypted
    assert llm_config_for(tenant).api_key == "sk-tenant-123"
    page = admin_client.get(reverse(URL)).content.decode()
    assert "sk-tenant-123" not in page and 'data-testid="api-key-status"' in page
    event = AuditEvent.objects.get(tenant=tenant, action="settings.api_key_set")
    assert "sk-tenant-123" not in str(event.extra) and "sk-tenant-123" not in event.actor_label
    # saving again without a key keeps the stored one; a new connection drops it
    admin_client.post(reverse(URL), posted | {"api_key": ""})
    assert llm_config_for(tenant).api_key == "sk-tenant-123"
    admin_client.post(reverse(URL), VALID)
    assert AssistantSettings.objects.get(tenant=tenant).llm_api_key_encrypted == ""
    changed = AuditEvent.objects.filter(tenant=tenant, action="settings.update").first().extra["changed"]
    assert changed["llm_api_key"] == ["set", "removed"]


def test_a_key_for_a_connection_that_uses_the_servers_key_is_refused(admin_client):
    response = admin_client.post(reverse(URL), VALID | {"api_key": "sk-mine"})
    assert response.status_code == 400 and "uses the server&#x27;s own key" in response.content.decode()
    assert not AssistantSettings.objects.filter(tenant=admin_client.tenant).exists()


def test_the_stored_key_can_be_removed(admin_client):
    tenant = admin_client.tenant
    admin_client.post(reverse(URL), VALID | {"llm_connection": "own-key", "llm_model": "", "api_key": "sk-1"})
    admin_client.post(
        reverse(URL), VALID | {"llm_connection": "own-key", "llm_model": "", "remove_api_key": "on"}
    )
    assert AssistantSettings.objects.get(tenant=tenant).llm_api_key_encrypted == ""
    assert AuditEvent.objects.filter(tenant=tenant, action="settings.api_key_remove").count() == 1
    with pytest.raises(ApplicationError, match="one word"):
        assistant_api_key_set(tenant=tenant, actor=Actor(), api_key="two words")


def test_clearing_a_field_goes_back_to_the_site_default(admin_client, settings):
    tenant = admin_client.tenant
    admin_client.post(reverse(URL), VALID)
    admin_client.post(
        reverse(URL), VALID | {"llm_connection": "", "llm_model": "", "answer_cache": "unknown"}
    )
    saved = AssistantSettings.objects.get(tenant=tenant)
    assert saved.llm_connection == "" and saved.answer_cache is None
    assert llm_config_for(tenant).provider.value == settings.TESSERA["LLM_PROVIDER"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("llm_model", "gpt-9", "This connection offers: mini, large"),
        ("answer_cache_threshold", "0.5", "greater than or equal to 0.85"),
        ("answer_cache_threshold", "1.5", "less than or equal to 1"),
        ("llm_connection", "skynet", "Select a valid choice"),
        ("llm_timeout_s", "0", "more than 0"),
        ("llm_timeout_s", "-3", "more than 0"),
        ("monthly_token_budget", "-1", "greater than or equal to 0"),
    ],
)
def test_invalid_values_are_a_400_with_the_error_at_the_field(admin_client, field, value, message):
    posted = VALID | {"llm_connection": "own-key"} if field == "llm_model" else VALID
    response = admin_client.post(reverse(URL), posted | {field: value})
    html = response.content.decode()
    assert response.status_code == 400 and message in html
    assert f'id="id_{field}_error"' in html
    assert not AssistantSettings.objects.filter(tenant=admin_client.tenant).exists()
    assert not AuditEvent.objects.filter(action="settings.update").exists()


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
    AssistantSettings.objects.create(tenant=other, llm_model="their-model", llm_api_key_encrypted="x")
    page = admin_client.get(reverse(URL)).content.decode()
    assert "their-model" not in page and 'data-testid="api-key-status"' not in page
    admin_client.post(reverse(URL), VALID)
    assert AssistantSettings.objects.get(tenant=other).llm_model == "their-model"


def test_members_get_403(client, member_of):
    client.force_login(member_of(TenantFactory(), role=Role.MEMBER))
    assert client.get(reverse(URL)).status_code == 403
    assert client.post(reverse(URL), VALID).status_code == 403
    assert not AssistantSettings.objects.exists()
