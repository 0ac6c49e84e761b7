"""`manage.py serve`: the web server and a Celery worker start together; Ctrl-C stops both."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_runs_web_and_worker_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")
    }
    env.update(
        TESSERA_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.test_settings", PYTHONUNBUFFERED="1"
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=180
    )
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline, status, body = time.monotonic() + 90, 0, {}
        while time.monotonic() < deadline and status != 200:
            time.sleep(1)
            try:
                status, body = _get_json(f"http://127.0.0.1:{port}/healthz")
            except OSError:
                continue
        assert status == 200, (body, (tmp_path / "serve.log").read_text()[-3000:])
        # The worker beside it consumes from the same embedded broker.
        ping = subprocess.run(
            [
                sys.executable,
                "-c",
                "import django; django.setup(); from config.celery import ping;"
                "print(ping.delay('beside').get(timeout=60)['pong'])",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ping.stdout.strip() == "beside", ping.stderr[-2000:]
        os.killpg(server.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    output = (tmp_path / "serve.log").read_text()
    assert "Booting worker" in output and "ready." in output
    # Nothing is left behind (a gunicorn worker may take a moment to finish exiting).
    # The pattern is anchored at the port's end: "127.0.0.1:543" must not match a "127.0.0.1:5432".
    pattern = f"127\\.0\\.0\\.1:{port}( |$)"
    deadline, leftovers = time.monotonic() + 30, "?"
    while leftovers and time.monotonic() < deadline:
        pgrep = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
        leftovers = pgrep.stdout.strip()
        time.sleep(0.5)
    if leftovers:
        ps = subprocess.run(
            ["ps", "-o", "pid,ppid,etime,args", "-p", ",".join(leftovers.split())],
            capture_output=True,
            text=True,
        )
        pytest.fail(f"left running after Ctrl-C:\n{ps.stdout}")
