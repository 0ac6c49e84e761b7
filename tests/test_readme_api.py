"""The README's curl examples work as written: upload, then (once the worker has indexed the file)
search and ask, against a live server and a real Celery worker."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from governance import services
from governance.services import Actor
from governance.tests.factories import TenantFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HANDBOOK = """# Employee handbook

## Parental leave

Employees receive sixteen weeks of paid parental leave after the birth or adoption of a child.
Leave may start up to two weeks before the expected date.

## Travel

Book flights through the travel desk at least two weeks ahead.
"""


def readme_api_commands() -> list[str]:
    """The curl commands of the README's API section, continuation lines joined."""
    text = (REPO / "README.md").read_text()
    section = text.split("## API for integrations", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README's API section has no sh block"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


def _run(command: str, env: dict[str, str], cwd: Path) -> Any:
    result = subprocess.run(
        ["bash", "-c", command], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)


def _get(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the live test server
        return json.loads(response.read())


def test_the_readmes_curl_examples_work(live_server, live_worker, tmp_path):
    upload, search, ask = readme_api_commands()
    assert "/api/v1/documents/" in upload and "/api/v1/search/" in search and "/api/v1/ask/" in ask
    tenant = TenantFactory(slug="readme")
    _, key = services.api_key_create(
        tenant=tenant, name="readme", scopes=["ingest", "ask", "search"], actor=Actor()
    )
    (tmp_path / "handbook.md").write_text(HANDBOOK)
    env = {**os.environ, "TESSERA_URL": live_server.url, "TESSERA_KEY": key}

    created = _run(upload, env, tmp_path)
    document_id = created["created"][0]["document_id"]
    deadline = time.monotonic() + 120
    document = _get(f"{live_server.url}/api/v1/documents/{document_id}/", key)
    while document["status"] != "ready" and time.monotonic() < deadline:
        assert document["status"] != "failed", document
        time.sleep(0.5)
        document = _get(f"{live_server.url}/api/v1/documents/{document_id}/", key)
    assert document["status"] == "ready"

    found = _run(search, env, tmp_path)
    assert found["passages"] and "parental leave" in found["passages"][0]["text"].lower()
    answered = _run(ask, env, tmp_path)
    assert "sixteen weeks" in answered["answer"]
    assert answered["citations"] and answered["citations"][0]["document_id"] == document_id
