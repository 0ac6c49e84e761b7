"""Which LLM answers for a tenant: its own settings where set, the site's TESSERA_LLM_* otherwise;
a tenant that picks another provider than the site's does not inherit the site's model or server."""

from __future__ import annotations

import pytest

from assistant.llm import Provider
from assistant.local_llm import DEFAULT_LOCAL_MODEL
from assistant.models import AssistantSettings
from assistant.policy import llm_config_for
from governance.tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(settings):
    settings.TESSERA = {
        **settings.TESSERA,
        "LLM_PROVIDER": "openai",
        "LLM_MODEL": "site-model",
        "LLM_BASE_URL": "http://site.internal/v1",
        "LLM_API_KEY_ENV": "SITE_KEY",
        "LLM_TIMEOUT_S": 20.0,
        "LLM_MAX_RETRIES": 2,
        "LLM_MAX_TOKENS": 99,
        "LLM_THREADS": 3,
    }
    return settings.TESSERA


def test_a_tenant_without_settings_gets_the_site_defaults(site):
    config = llm_config_for(TenantFactory())
    assert config.provider == Provider.OPENAI and config.model == "site-model"
    assert (config.base_url, config.api_key_env, config.timeout_s) == (
        "http://site.internal/v1",
        "SITE_KEY",
        20.0,
    )
    assert (config.max_retries, config.max_tokens, config.n_threads) == (2, 99, 3)


def test_the_tenants_own_fields_win_and_empty_ones_fall_back_to_the_site(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_model="own-model", llm_timeout_s=5.0)
    config = llm_config_for(tenant)
    assert (config.provider, config.model, config.timeout_s) == (Provider.OPENAI, "own-model", 5.0)
    assert (config.base_url, config.api_key_env) == ("http://site.internal/v1", "SITE_KEY")
    AssistantSettings.objects.filter(tenant=tenant).update(
        llm_provider="openai", llm_base_url="http://own.internal/v1", llm_api_key_env="OWN_KEY"
    )
    config = llm_config_for(tenant)  # naming the site's provider explicitly changes nothing else
    assert (config.model, config.base_url, config.api_key_env) == (
        "own-model",
        "http://own.internal/v1",
        "OWN_KEY",
    )


def test_another_provider_than_the_sites_inherits_none_of_the_sites_model_or_server(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_provider="extractive")
    config = llm_config_for(tenant)
    assert config.provider == Provider.EXTRACTIVE
    assert (config.model, config.base_url, config.api_key_env) == ("", "", "")
    assert (config.timeout_s, config.max_retries, config.max_tokens) == (20.0, 2, 99)  # site-wide limits


def test_tenants_do_not_see_each_others_settings(site):
    mine, theirs = TenantFactory(), TenantFactory()
    AssistantSettings.objects.create(tenant=theirs, llm_provider="local", llm_model="their-model")
    assert llm_config_for(mine).model == "site-model" and llm_config_for(theirs).model == "their-model"
    assert llm_config_for(mine).breaker_key != llm_config_for(theirs).breaker_key


def test_a_tenant_choosing_the_embedded_model_without_naming_one_gets_the_installed_one(site):
    tenant = TenantFactory()
    AssistantSettings.objects.create(tenant=tenant, llm_provider="local")  # the site uses a server
    config = llm_config_for(tenant)
    assert (config.provider, config.model, config.base_url) == (Provider.LOCAL, DEFAULT_LOCAL_MODEL, "")
