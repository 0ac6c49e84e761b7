"""A tenant's answering policy: which of the operator's LLM connections (and model) answers for it,
with which key, and its token budget."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from assistant.answering.llm.client import LlmConfig, Provider
from assistant.answering.llm.connections import LlmConnection, llm_connections
from assistant.answering.llm.local import DEFAULT_LOCAL_MODEL, LOCAL_MODELS
from assistant.models import AssistantSettings, Message
from config.encryption import SecretUnreadable, secret_decrypt
from governance.models import Tenant

logger = logging.getLogger(__name__)


def assistant_settings_for(tenant: Tenant) -> AssistantSettings:
    """The tenant's settings row (an unsaved one with every field empty if it has none)."""
    found = AssistantSettings.objects.filter(tenant=tenant).first()
    return found or AssistantSettings(tenant=tenant)


def available_connections() -> dict[str, LlmConnection]:
    """The connections a tenant may choose, by name (``""``: the site default)."""
    local_models = (DEFAULT_LOCAL_MODEL, *sorted(set(LOCAL_MODELS) - {DEFAULT_LOCAL_MODEL}))
    return llm_connections(settings.TESSERA, local_models=local_models)


def llm_config_for(tenant: Tenant) -> LlmConfig:
    """The LLM that answers for ``tenant``: its chosen connection and model, else the site's.

    A connection the operator has since removed answers nothing (extractive, with the reason), never
    another server the tenant did not choose."""
    own = assistant_settings_for(tenant)
    site = settings.TESSERA
    connection = available_connections().get(own.llm_connection)
    if connection is None:
        logger.warning("tenant=%s chose the missing LLM connection %r", tenant.pk, own.llm_connection)
        connection = LlmConnection(name=own.llm_connection, label="", provider=Provider.EXTRACTIVE)
    model = own.llm_model if own.llm_model and connection.allows_model(own.llm_model) else ""
    if connection.provider == Provider.LOCAL and model not in LOCAL_MODELS:
        model = ""  # a tenant names only an installed embedded model (the operator's default is theirs)
    return LlmConfig(
        provider=Provider(connection.provider),
        model=model or connection.default_model,
        connection=connection.name,
        base_url=connection.base_url,
        **_api_key(tenant, own, connection),
        allowed_hosts=tuple(site["OUTBOUND_ALLOWED_HOSTS"]),
        owner=str(tenant.pk) if connection.tenant_key else "",
        timeout_s=own.llm_timeout_s or site["LLM_TIMEOUT_S"],
        max_retries=site["LLM_MAX_RETRIES"],
        max_tokens=site["LLM_MAX_TOKENS"],
        n_threads=site["LLM_THREADS"],
    )


def _api_key(tenant: Tenant, own: AssistantSettings, connection: LlmConnection) -> dict[str, str]:
    """``api_key`` sent to ``connection`` (the tenant's own, decrypted, where the connection takes
    one; the operator's variable otherwise: a key never goes to another connection), or
    ``unavailable``: why there is none, in words fit for the tenant (no variable names)."""
    if connection.provider != Provider.OPENAI:
        return {}
    if connection.tenant_key:
        if not own.llm_api_key_encrypted:
            return {"unavailable": "this connection needs your organisation's API key (an admin sets it)"}
        try:
            return {"api_key": secret_decrypt(own.llm_api_key_encrypted)}
        except SecretUnreadable:
            logger.error("tenant=%s: its stored LLM key cannot be decrypted", tenant.pk)
            return {"unavailable": "the stored API key cannot be read; an admin must set it again"}
    if not connection.api_key_env:
        return {}
    key = os.environ.get(connection.api_key_env, "")
    if not key:
        logger.error("LLM connection %r: the variable %s is not set", connection.name, connection.api_key_env)
        return {"unavailable": "the server has no API key for this connection; tell the operator"}
    return {"api_key": key}


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
