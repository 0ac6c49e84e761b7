"""Settings: production refuses to start without a secret; `check --deploy` is clean with HTTPS on."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def _manage(
    args: list[str], env_overrides: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    # A production-like environment: nothing the test session set for itself (the browser tests'
    # DJANGO_ALLOW_ASYNC_UNSAFE, the test settings module) may leak into it.
    leaked = ("SECRET_KEY", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {k: v for k, v in os.environ.items() if k not in leaked}
    env.update(
        {"DJANGO_SETTINGS_MODULE": "config.settings", "TESSERA_DATA_DIR": str(tmp_path)}, **env_overrides
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_without_secret_key_fails_loudly(tmp_path):
    result = _manage(["check"], {"DJANGO_DEBUG": "0", "SECRET_KEY": ""}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_an_unknown_search_fusion_fails_loudly(tmp_path):
    result = _manage(
        ["check"], {"SECRET_KEY": secrets.token_urlsafe(50), "TESSERA_SEARCH_FUSION": "rff"}, tmp_path
    )
    assert result.returncode != 0
    assert "TESSERA_SEARCH_FUSION must be 'scores' or 'rrf', not 'rff'" in result.stderr


def test_check_deploy_has_no_warnings_in_production_settings(tmp_path):
    production = {
        "DJANGO_DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "TESSERA_HTTPS": "1",
        "ALLOWED_HOSTS": "tessera.example.com",
    }
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], production, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_models_never_come_from_a_hub():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_a_malformed_llm_price_table_fails_at_start(tmp_path):
    result = _manage(["check"], {"DJANGO_DEBUG": "1", "TESSERA_LLM_PRICES": '{"gpt-4o-mini": 0.5}'}, tmp_path)
    assert result.returncode != 0 and "TESSERA_LLM_PRICES" in result.stderr


def test_a_command_does_not_print_the_faiss_loader_lines(tmp_path):
    # faiss logs at INFO which CPU-specific module it loads: harmless, but it reads like an error
    result = _manage(
        ["shell", "-c", "import faiss, logging; logging.getLogger('tessera').info('still shown')"],
        {"SECRET_KEY": secrets.token_urlsafe(50), "LOG_LEVEL": "INFO"},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "still shown" in result.stderr  # INFO from our own loggers still shows
    assert "faiss.loader" not in result.stderr
