"""Migration 0005 maps each tenant's old LLM fields to one of the operator's connections, and a server
only the tenant named to ``extractive`` (no document text goes anywhere it did not choose), audited."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("assistant", "0004_feedback_citation_spans")]
AFTER = [("assistant", "0005_llm_connections")]


@pytest.fixture
def executor():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    yield executor
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_old_rows_become_connections_and_a_tenants_own_server_becomes_extractive(executor, settings):
    settings.TESSERA = {
        **settings.TESSERA,
        "LLM_PROVIDER": "openai",
        "LLM_BASE_URL": "http://site.internal/v1",
        "LLM_API_KEY_ENV": "SITE_KEY",
        "LLM_CONNECTIONS": {"vllm": {"base_url": "http://vllm.internal/v1", "api_key_env": "VLLM_KEY"}},
    }
    old = executor.loader.project_state(BEFORE).apps
    tenant_model, settings_model = (
        old.get_model("governance", "Tenant"),
        old.get_model("assistant", "AssistantSettings"),
    )
    rows = {
        "none": {},
        "local": {"llm_provider": "local", "llm_model": "qwen"},
        "extractive": {"llm_provider": "extractive"},
        "site": {
            "llm_provider": "openai",
            "llm_base_url": "http://site.internal/v1",
            "llm_api_key_env": "SITE_KEY",
        },
        "vllm": {"llm_provider": "openai", "llm_base_url": "http://vllm.internal/v1"},
        "own": {
            "llm_provider": "openai",
            "llm_base_url": "http://u:pw@10.0.0.9:8765/v1",
            "llm_api_key_env": "SECRET_KEY",
        },
    }
    for slug, fields in rows.items():
        settings_model.objects.create(tenant=tenant_model.objects.create(slug=slug, name=slug), **fields)

    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    migrated = {
        row.tenant.slug: (row.llm_connection, row.llm_model)
        for row in new.get_model("assistant", "AssistantSettings").objects.select_related("tenant")
    }
    assert migrated == {
        "none": ("", ""),
        "local": ("local", "qwen"),
        "extractive": ("extractive", ""),
        "site": ("", ""),
        "vllm": ("vllm", ""),
        "own": ("extractive", ""),
    }
    (event,) = new.get_model("governance", "AuditEvent").objects.filter(
        action="settings.llm_connection_reset"
    )
    assert event.tenant.slug == "own" and event.extra["dropped_base_url"] == "http://10.0.0.9:8765/v1"
    assert "pw" not in str(event.extra) and "SECRET_KEY" not in str(event.extra)
