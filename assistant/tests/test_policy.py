"""Which LLM answers for a tenant: one of the operator's connections, chosen by name, with the key
that connection owns (the operator's variable, or the tenant's own key stored encrypted); the site's
TESSERA_LLM_* when the tenant chose nothing. A tenant never names a server or a server variable."""

from __future__ import annotations

import pytest

from assistant.answering.llm.client import Provider
from assistant.answering.llm.local import DEFAULT_LOCAL_MODEL
from assistant.answering.llm.policy import llm_config_for
from assistant.models import AssistantSettings
from config.encryption import secret_encrypt
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

CONNECTIONS = {
    "vllm": {"label": "Our vLLM", "base_url": "http://vllm.internal/v1", "api_key_env": "VLLM_KEY"},
    "openai": {"base_url": "https://api.openai.com/v1", "tenant_key": True, "models": ["mini", "large"]},
}


@pytest.fixture
def site(settings, monkeypatch):
    monkeypatch.setenv("SITE_KEY", "sk-site")
    monkeypatch.setenv("VLLM_KEY", "sk-vllm")
    settings.TESSERA = {
        **settings.TESSERA,
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "site-model",
        "LLM_BASE_URL": "http://site.internal/v1",
        "LLM_API_KEY_ENV": "SITE_KEY",
        "LLM_CONNECTIONS": CONNECTIONS,
        "OUTBOUND_ALLOWED_HOSTS": ["site.internal"],
        "LLM_TIMEOUT_S": 20.0,
        "LLM_MAX_RETRIES": 2,
        "LLM_MAX_TOKENS": 99,
        "LLM_THREADS": 3,
    }
    return settings.TESSERA


def test_a_tenant_without_settings_gets_the_site_defaults(site):
    config = llm_config_for(TenantFactory())
    assert (config.provider, config.model, config.connection) == (Provider.OPENAI, "site-model", "")
    assert (config.base_url, config.api_key, config.timeout_s) == ("http://site.internal/v1", "sk-site", 20.0)
    assert (config.max_retries, config.max_tokens, config.n_threads) == (2, 99, 3)
    assert config.allowed_hosts == ("site.internal",) and config.unavailable == ""
    assert "sk-site" not in repr(config)  # the key never reaches a log line through the config


def test_the_tenants_model_and_timeout_win_on_the_site_connection(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_model="own-model", llm_timeout_s=5.0)
    config = llm_config_for(tenant)
    assert (config.provider, config.model, config.timeout_s) == (Provider.OPENAI, "own-model", 5.0)
    assert (config.base_url, config.api_key) == ("http://site.internal/v1", "sk-site")


def test_an_operator_connection_uses_its_own_server_and_key_never_the_sites(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="vllm", llm_model="llama")
    config = llm_config_for(tenant)
    assert (config.connection, config.base_url, config.model) == ("vllm", "http://vllm.internal/v1", "llama")
    assert config.api_key == "sk-vllm"


def test_a_tenant_key_connection_sends_the_tenants_own_key_and_nothing_without_it(site):
    tenant = TenantFactory()
    row = AssistantSettings.objects.create(tenant=tenant, llm_connection="openai")
    config = llm_config_for(tenant)
    assert config.api_key == "" and "API key" in config.unavailable and "SITE_KEY" not in config.unavailable
    assert config.model == "mini"  # the connection's first model
    row.llm_api_key_encrypted = secret_encrypt("sk-tenant-own")
    row.save()
    config = llm_config_for(tenant)
    assert (config.api_key, config.unavailable, config.owner) == ("sk-tenant-own", "", str(tenant.pk))
    other = TenantFactory()
    AssistantSettings.objects.create(tenant=other, llm_connection="openai", llm_api_key_encrypted="garbage")
    assert "cannot be read" in llm_config_for(other).unavailable  # and no one else's key instead
    assert llm_config_for(other).breaker_key != config.breaker_key  # one tenant's bad key trips only its own


def test_a_model_the_connection_does_not_offer_is_not_sent(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="openai", llm_model="o-super-expensive")
    assert llm_config_for(tenant).model == "mini"


def test_a_missing_operator_key_is_reported_without_the_variables_name(site, monkeypatch):
    monkeypatch.delenv("VLLM_KEY")
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="vllm")
    config = llm_config_for(tenant)
    assert config.api_key == "" and "operator" in config.unavailable and "VLLM_KEY" not in config.unavailable


def test_a_connection_the_operator_removed_answers_without_an_llm(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="gone")
    config = llm_config_for(tenant)
    assert (config.provider, config.base_url, config.api_key) == (Provider.EXTRACTIVE, "", "")


def test_extractive_inherits_none_of_the_sites_model_server_or_key(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="extractive")
    config = llm_config_for(tenant)
    assert config.provider == Provider.EXTRACTIVE
    assert (config.model, config.base_url, config.api_key) == ("", "", "")
    assert (config.timeout_s, config.max_retries, config.max_tokens) == (20.0, 2, 99)  # site-wide limits


def test_tenants_do_not_see_each_others_settings(site):
    mine, theirs = TenantFactory(), TenantFactory()
    AssistantSettings.objects.create(tenant=theirs, llm_connection="vllm", llm_model="their-model")
    assert llm_config_for(mine).model == "site-model" and llm_config_for(theirs).model == "their-model"
    assert llm_config_for(mine).breaker_key != llm_config_for(theirs).breaker_key


def test_the_embedded_model_is_always_an_installed_one(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_connection="local", llm_model="../../etc/passwd")
    config = llm_config_for(tenant)
    assert (config.provider, config.model, config.base_url) == (Provider.LOCAL, DEFAULT_LOCAL_MODEL, "")
