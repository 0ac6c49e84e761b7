"""Writes on a tenant's assistant settings (which of the operator's LLM connections, its model, budget
and answer cache), checked against the model's own rules and audited with what changed; and the
tenant's own API key for a connection that takes one, stored encrypted and audited without itself."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assistant.answering.llm.policy import available_connections
from assistant.models import AssistantSettings
from config.encryption import secret_encrypt
from config.errors import ApplicationError
from governance.models import Tenant
from governance.services import Actor, audit_record

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "llm_connection",
    "llm_model",
    "llm_timeout_s",
    "monthly_token_budget",
    "answer_cache",
    "answer_cache_threshold",
)
MAX_TIMEOUT_S = 600.0
MAX_API_KEY_CHARS = 500


def check_settings_values(values: dict[str, Any]) -> dict[str, str]:
    """Rules the model's field validators do not express; ``{field: message}`` for each broken one."""
    problems = {}
    connections = available_connections()
    connection = connections.get(values.get("llm_connection") or "")
    if connection is None:
        problems["llm_connection"] = "Choose one of the connections this server offers."
    model = values.get("llm_model") or ""
    if connection is not None and model and not connection.allows_model(model):
        problems["llm_model"] = f"This connection offers: {', '.join(connection.models)}."
    timeout = values.get("llm_timeout_s")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
        problems["llm_timeout_s"] = f"A timeout is more than 0 and at most {MAX_TIMEOUT_S:.0f} seconds."
    return problems


def assistant_settings_update(*, tenant: Tenant, actor: Actor, values: dict[str, Any]) -> AssistantSettings:
    """Set the tenant's settings to ``values`` (editable fields only; empty: the site default) and
    audit the fields that changed with their old and new values. A new connection drops the tenant's
    stored API key."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ApplicationError(f"Unknown settings: {', '.join(unknown)}.", code="unknown_setting")
    with transaction.atomic():
        current, _ = AssistantSettings.objects.select_for_update().get_or_create(tenant=tenant)
        before = {name: getattr(current, name) for name in EDITABLE_FIELDS}
        for name, value in values.items():
            setattr(current, name, value)
        problems = check_settings_values({name: getattr(current, name) for name in EDITABLE_FIELDS})
        try:
            current.full_clean()
        except ValidationError as exc:
            problems |= {field: " ".join(messages) for field, messages in exc.message_dict.items()}
        if problems:
            raise ApplicationError(
                "Some settings are not valid: " + " ".join(f"{k}: {v}" for k, v in sorted(problems.items())),
                code="invalid_settings",
                extra={"fields": problems},
            )
        changed = {
            name: [before[name], getattr(current, name)]
            for name in EDITABLE_FIELDS
            if before[name] != getattr(current, name)
        }
        if "llm_connection" in changed and current.llm_api_key_encrypted:
            # A tenant's key belongs to the connection it was given for: it never follows to another.
            current.llm_api_key_encrypted, current.llm_api_key_set_at = "", None
            changed["llm_api_key"] = ["set", "removed"]
        if changed:
            current.save()
            audit_record(
                tenant=tenant,
                actor=actor,
                action="settings.update",
                target=current,
                extra={"changed": changed},
            )
    logger.info("assistant settings updated tenant=%s fields=%s", tenant.pk, sorted(changed))
    return current


def assistant_api_key_set(*, tenant: Tenant, actor: Actor, api_key: str | None) -> AssistantSettings:
    """Store the tenant's own LLM API key, encrypted (``None``: remove it); the audit row says that it
    changed, never what it is."""
    if api_key is not None:
        api_key = api_key.strip()
        if not api_key or len(api_key) > MAX_API_KEY_CHARS or any(c.isspace() for c in api_key):
            raise ApplicationError(
                f"An API key is one word of at most {MAX_API_KEY_CHARS} characters.", code="invalid_api_key"
            )
    with transaction.atomic():
        current, _ = AssistantSettings.objects.select_for_update().get_or_create(tenant=tenant)
        if api_key is None and not current.llm_api_key_encrypted:
            return current
        current.llm_api_key_encrypted = secret_encrypt(api_key) if api_key is not None else ""
        current.llm_api_key_set_at = timezone.now() if api_key is not None else None
        current.save(update_fields=["llm_api_key_encrypted", "llm_api_key_set_at", "updated_at"])
        audit_record(
            tenant=tenant,
            actor=actor,
            action="settings.api_key_set" if api_key is not None else "settings.api_key_remove",
            target=current,
        )
    logger.info("assistant API key %s tenant=%s", "set" if api_key else "removed", tenant.pk)
    return current
