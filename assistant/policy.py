"""A tenant's answering policy: which LLM (its settings over the site defaults) and its token budget."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from assistant.llm import LlmConfig, Provider
from assistant.local_llm import DEFAULT_LOCAL_MODEL
from assistant.models import AssistantSettings, Message
from governance.models import Tenant


def assistant_settings_for(tenant: Tenant) -> AssistantSettings:
    """The tenant's settings row (an unsaved one with every field empty if it has none)."""
    found = AssistantSettings.objects.filter(tenant=tenant).first()
    return found or AssistantSettings(tenant=tenant)


def llm_config_for(tenant: Tenant) -> LlmConfig:
    """The LLM that answers for ``tenant``: its own settings where set, else TESSERA_LLM_*."""
    own = assistant_settings_for(tenant)
    site = settings.TESSERA
    provider = Provider(own.llm_provider or site["LLM_PROVIDER"])
    same_provider = not own.llm_provider or own.llm_provider == site["LLM_PROVIDER"]
    default_model = site["LLM_MODEL"] if same_provider else ""
    if provider == Provider.LOCAL and not default_model:
        default_model = DEFAULT_LOCAL_MODEL  # a tenant choosing the embedded model gets the installed one
    return LlmConfig(
        provider=provider,
        model=own.llm_model or default_model,
        base_url=own.llm_base_url or (site["LLM_BASE_URL"] if same_provider else ""),
        api_key_env=own.llm_api_key_env or (site["LLM_API_KEY_ENV"] if same_provider else ""),
        timeout_s=own.llm_timeout_s or site["LLM_TIMEOUT_S"],
        max_retries=site["LLM_MAX_RETRIES"],
        max_tokens=site["LLM_MAX_TOKENS"],
        n_threads=site["LLM_THREADS"],
    )


def tokens_used_this_month(tenant: Tenant) -> int:
    start = timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = Message.objects.filter(tenant=tenant, created_at__gte=start, llm_called=True).aggregate(
        total=Sum("prompt_tokens") + Sum("completion_tokens")
    )["total"]
    return int(used or 0)


def budget_spent(tenant: Tenant) -> bool:
    """True when the tenant has a monthly token budget and has used it up."""
    budget = assistant_settings_for(tenant).monthly_token_budget
    return budget is not None and tokens_used_this_month(tenant) >= budget
