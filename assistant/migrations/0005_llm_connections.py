"""A tenant's LLM becomes one of the operator's named connections (issue 19).

Until now a tenant admin could name any server URL and any server environment variable as its key,
which sent the server's secrets wherever they chose. Each existing row is mapped to a connection:

- provider ``local`` / ``extractive`` -> the built-in connection of that name;
- no provider, or ``openai`` with the site's own server and key variable (or none) -> the site default;
- ``openai`` with the URL and key variable of an operator connection -> that connection;
- anything else (a server only the tenant named) -> ``extractive``: answers keep working from the cited
  passages, and no document text goes to a server the tenant did not choose. An audit row in the
  tenant's trail says what was dropped, so its admin can choose a connection.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.db import migrations, models


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _connection_for(row, site: dict) -> str | None:
    """The connection name of an old row, or None when the tenant had a server of its own."""
    if row.llm_provider in ("local", "extractive"):
        return row.llm_provider
    if not row.llm_provider or (not row.llm_base_url and not row.llm_api_key_env):
        return ""
    if site.get("LLM_PROVIDER") == "openai" and row.llm_base_url in ("", site.get("LLM_BASE_URL", "")):
        if row.llm_api_key_env in ("", site.get("LLM_API_KEY_ENV", "")):
            return ""
    for name, spec in (site.get("LLM_CONNECTIONS") or {}).items():
        if isinstance(spec, dict) and spec.get("base_url") == row.llm_base_url and not spec.get("tenant_key"):
            if row.llm_api_key_env in ("", spec.get("api_key_env", "")):
                return name
    return None


def forwards(apps, schema_editor) -> None:
    settings_model = apps.get_model("assistant", "AssistantSettings")
    audit = apps.get_model("governance", "AuditEvent")
    site = getattr(settings, "TESSERA", {})
    for row in settings_model.objects.all():
        name = _connection_for(row, site)
        if name is None:
            audit.objects.create(
                tenant_id=row.tenant_id,
                actor_label="system (upgrade)",
                action="settings.llm_connection_reset",
                target_type="assistantsettings",
                target_id=str(row.pk),
                extra={
                    "reason": "Tenants no longer name LLM servers; choose one of the operator's connections.",
                    "dropped_base_url": _without_credentials(row.llm_base_url),
                    "now": "extractive",
                },
            )
            name = "extractive"
        row.llm_connection = name
        row.save(update_fields=["llm_connection"])


def backwards(apps, schema_editor) -> None:
    settings_model = apps.get_model("assistant", "AssistantSettings")
    for row in settings_model.objects.all():
        row.llm_provider = row.llm_connection if row.llm_connection in ("local", "extractive") else ""
        row.save(update_fields=["llm_provider"])


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0004_feedback_citation_spans"),
        ("governance", "0002_password_change_required"),
    ]

    operations = [
        migrations.AddField(
            model_name="assistantsettings",
            name="llm_connection",
            field=models.CharField(
                blank=True,
                help_text="The operator's LLM connection, by name; empty: the site default.",
                max_length=32,
            ),
        ),
        migrations.AddField(
            model_name="assistantsettings",
            name="llm_api_key_encrypted",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.AddField(
            model_name="assistantsettings",
            name="llm_api_key_set_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="assistantsettings", name="llm_provider"),
        migrations.RemoveField(model_name="assistantsettings", name="llm_base_url"),
        migrations.RemoveField(model_name="assistantsettings", name="llm_api_key_env"),
    ]
