"""The operator's LLM connections: the only servers Tessera sends documents and keys to.

A connection is defined in the server's environment, never by a tenant: its base URL, the NAME of
the environment variable holding its key (or ``tenant_key``: each tenant stores its own key,
encrypted), and the models a tenant may choose on it. A tenant admin picks one by name and sets only
the model, timeout, budget and cache. Two connections always exist: ``local`` (the embedded model,
no network) and ``extractive`` (no LLM: the answer is the cited passages); ``""`` is the site's
default (``TESSERA_LLM_PROVIDER``, ``TESSERA_LLM_BASE_URL``, ...).

    TESSERA_LLM_CONNECTIONS='{"openai": {"label": "OpenAI", "base_url": "https://api.openai.com/v1",
        "api_key_env": "OPENAI_API_KEY", "models": ["gpt-4o-mini", "gpt-4o"]},
        "azure-own-key": {"base_url": "https://example.openai.azure.com/openai/v1",
        "tenant_key": true, "models": ["gpt-4o-mini"]}}'

This module only reads settings values; it is imported by ``config.settings`` to fail loudly at
start-up on a malformed definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

LOCAL = "local"
EXTRACTIVE = "extractive"
SITE = ""  # the site default
OPENAI_API = "https://api.openai.com/v1"  # the openai provider's server when no URL is set
PROVIDERS = ("local", "openai", "extractive")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
KNOWN_KEYS = {"label", "base_url", "api_key_env", "models", "tenant_key"}


class ConnectionConfigError(ValueError):
    """A connection definition in the environment is malformed (raised at start-up)."""


@dataclass(frozen=True, slots=True)
class LlmConnection:
    """One server (or the embedded model) a tenant may have its answers written by."""

    name: str
    label: str
    provider: str  # one of PROVIDERS
    base_url: str = ""
    api_key_env: str = ""  # the operator's variable NAME; never shown to a tenant
    models: tuple[str, ...] = ()  # empty: any model name the server knows
    default_model: str = ""
    tenant_key: bool = False  # each tenant brings its own key (stored encrypted)

    def allows_model(self, model: str) -> bool:
        return not self.models or model in self.models


def _checked_url(url: Any, where: str) -> str:
    if not isinstance(url, str):
        raise ConnectionConfigError(f"{where}: base_url must be an http(s) URL with a host, not {url!r}.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectionConfigError(f"{where}: base_url must be an http(s) URL with a host, not {url!r}.")
    if parts.username or parts.password:
        raise ConnectionConfigError(f"{where}: base_url may not hold credentials; use api_key_env.")
    return url


def _operator_connection(name: Any, spec: Any) -> LlmConnection:
    where = f"TESSERA_LLM_CONNECTIONS[{name!r}]"
    if not isinstance(name, str) or not NAME.match(name) or name in (LOCAL, EXTRACTIVE):
        raise ConnectionConfigError(
            f"{where}: a name is 1-32 lower-case letters, digits, '-' or '_', and not local or extractive."
        )
    if not isinstance(spec, dict) or set(spec) - KNOWN_KEYS:
        raise ConnectionConfigError(f"{where}: an object with the keys {sorted(KNOWN_KEYS)} only.")
    env_name = spec.get("api_key_env", "")
    if env_name and (not isinstance(env_name, str) or not ENV_VAR.match(env_name)):
        raise ConnectionConfigError(f"{where}: api_key_env is the NAME of an environment variable.")
    models = spec.get("models", [])
    if not isinstance(models, list) or not all(isinstance(m, str) and 0 < len(m) <= 200 for m in models):
        raise ConnectionConfigError(f"{where}: models is a list of model names.")
    tenant_key = spec.get("tenant_key", False)
    if not isinstance(tenant_key, bool) or (tenant_key and env_name):
        raise ConnectionConfigError(f"{where}: tenant_key is true or false, and excludes api_key_env.")
    return LlmConnection(
        name=name,
        label=str(spec.get("label") or name)[:100],
        provider="openai",
        base_url=_checked_url(spec.get("base_url"), where),
        api_key_env=env_name,
        models=tuple(models),
        default_model=models[0] if models else "",
        tenant_key=tenant_key,
    )


def _site_connection(tessera: dict[str, Any], local_models: tuple[str, ...]) -> LlmConnection:
    provider = tessera["LLM_PROVIDER"]
    if provider not in PROVIDERS:
        raise ConnectionConfigError(f"TESSERA_LLM_PROVIDER must be one of {PROVIDERS}, not {provider!r}.")
    base_url = tessera.get("LLM_BASE_URL", "") or (OPENAI_API if provider == "openai" else "")
    if provider == "openai":
        _checked_url(base_url, "TESSERA_LLM_BASE_URL")
    env_name = tessera.get("LLM_API_KEY_ENV", "")
    if env_name and not ENV_VAR.match(env_name):
        raise ConnectionConfigError("TESSERA_LLM_API_KEY_ENV is the NAME of an environment variable.")
    return LlmConnection(
        name=SITE,
        label="Site default",
        provider=provider,
        base_url=base_url if provider == "openai" else "",
        api_key_env=env_name if provider == "openai" else "",
        models=local_models if provider == "local" else (),
        default_model=tessera.get("LLM_MODEL", ""),
    )


def llm_connections(tessera: dict[str, Any], *, local_models: tuple[str, ...]) -> dict[str, LlmConnection]:
    """Every connection a tenant may choose, by name (``""``: the site default), in display order."""
    raw = tessera.get("LLM_CONNECTIONS", {})
    if not isinstance(raw, dict):
        raise ConnectionConfigError("TESSERA_LLM_CONNECTIONS must be a JSON object of connections by name.")
    found = {SITE: _site_connection(tessera, local_models)}
    found[LOCAL] = LlmConnection(
        name=LOCAL,
        label="Embedded model (on this server)",
        provider="local",
        models=local_models,
        default_model=local_models[0] if local_models else "",
    )
    found[EXTRACTIVE] = LlmConnection(
        name=EXTRACTIVE, label="No LLM (cited passages only)", provider="extractive"
    )
    for name, spec in raw.items():
        found[name] = _operator_connection(name, spec)
    return found
