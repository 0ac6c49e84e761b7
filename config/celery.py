"""The Celery application: JSON only, late acks, tasks autodiscovered from the apps."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tessera")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="tessera.ping", ignore_result=False)
def ping(payload: str = "ping") -> dict[str, Any]:
    """Answer from inside a worker: proves the broker -> worker -> result round trip."""
    return {"pong": payload, "host": socket.gethostname(), "pid": os.getpid()}
