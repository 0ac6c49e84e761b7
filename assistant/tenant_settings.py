"""Writes on a tenant's assistant settings (which LLM, its budget, the answer cache), checked
against the model's own rules and audited with what changed. Secrets are never stored here: the
API key is read at run time from the environment variable the settings name."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from assistant.models import AssistantSettings
from config.errors import ApplicationError
from governance.models import Tenant
from governance.services import Actor, audit_record

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = (
    "llm_provider",
    "llm_model",
    "llm_base_url",
    "llm_api_key_env",
    "llm_timeout_s",
    "monthly_token_budget",
    "answer_cache",
    "answer_cache_threshold",
)
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_TIMEOUT_S = 600.0


def check_settings_values(values: dict[str, Any]) -> dict[str, str]:
    """Rules the model's field validators do not express; ``{field: message}`` for each broken one."""
    problems = {}
    env_name = values.get("llm_api_key_env") or ""
    if env_name and not ENV_VAR_NAME.match(env_name):
        problems["llm_api_key_env"] = (
            "The name of an environment variable (letters, digits and underscores), not the key itself."
        )
    timeout = values.get("llm_timeout_s")
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:
        problems["llm_timeout_s"] = f"A timeout is more than 0 and at most {MAX_TIMEOUT_S:.0f} seconds."
    return problems


def assistant_settings_update(*, tenant: Tenant, actor: Actor, values: dict[str, Any]) -> AssistantSettings:
    """Set the tenant's settings to ``values`` (editable fields only; empty: the site default) and
    audit the fields that changed with their old and new values."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ApplicationError(f"Unknown settings: {', '.join(unknown)}.", code="unknown_setting")
    problems = check_settings_values(values)
    with transaction.atomic():
        current, _ = AssistantSettings.objects.select_for_update().get_or_create(tenant=tenant)
        before = {name: getattr(current, name) for name in EDITABLE_FIELDS}
        for name, value in values.items():
            setattr(current, name, value)
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
