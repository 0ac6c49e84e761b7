"""Serve Tessera: the web server and a Celery worker side by side; Ctrl-C stops both."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run gunicorn and a Celery worker together (the embedded default needs no other server)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", default=os.environ.get("TESSERA_BIND", "127.0.0.1:8000"))
        parser.add_argument(
            "--web-workers",
            type=int,
            default=int(os.environ.get("TESSERA_WEB_WORKERS", "0")),
            help="gunicorn processes (default: 1 with the embedded LLM, which each process would load "
            "and run on the same cores; 2 otherwise)",
        )
        parser.add_argument(
            "--worker-concurrency", type=int, default=int(os.environ.get("TESSERA_WORKER_CONCURRENCY", "1"))
        )
        parser.add_argument("--no-worker", action="store_true", help="Serve the web only.")

    def handle(self, *args: Any, **options: Any) -> None:
        bin_dir = os.path.dirname(sys.executable)
        if options["web_workers"] < 1:
            options["web_workers"] = 1 if settings.TESSERA["LLM_PROVIDER"] == "local" else 2
        self._prepare_local_model()
        self._prepare_intent_router()
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"),
                "config.wsgi:application",
                "--bind",
                options["bind"],
                "--workers",
                str(options["web_workers"]),
                "--worker-class",
                "gthread",
                "--threads",
                "8",  # a streamed answer holds its thread while the LLM writes
                "--timeout",
                "120",
                "--graceful-timeout",
                "15",  # inside serve's own grace below, so gunicorn reaps its workers itself
                "--access-logfile",
                "-",
            ],
        }
        if not options["no_worker"]:
            commands["worker"] = [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(options["worker_concurrency"]),
                "--hostname",
                "tessera@%h",
                # beat inside the one worker: the outbox's sweeper (config.outbox); a deployment with
                # several workers runs one `celery -A config beat` instead
                "--beat",
                "--schedule",
                str(Path(settings.DATA_DIR) / "celerybeat-schedule"),
            ]
        # Each child leads a process group of its own: a Ctrl-C reaches only this command, which stops
        # the children in order, and whatever a child leaves behind (a gunicorn worker forked while the
        # master was stopping) is killed with its group.
        children = {name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()}
        self.stdout.write(f"Tessera is serving on http://{options['bind']}/ (Ctrl-C stops it)")
        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"{name} exited with status {child.returncode}; stopping.")
                    exit_code, stopping = child.returncode or 1, True
            time.sleep(0.5)
        _terminate(list(children.values()))
        if exit_code:
            raise SystemExit(exit_code)

    def _prepare_intent_router(self) -> None:
        """Train the default intent router now, in a process of its own (seconds, once per version),
        so the first message is not kept waiting; a failure leaves every message a question."""
        if not settings.TESSERA["INTENT_ROUTING"]:
            return
        manage = Path(settings.BASE_DIR) / "manage.py"
        done = subprocess.run([sys.executable, str(manage), "intent_router"], check=False)
        if done.returncode:
            self.stderr.write("The intent router could not be trained; every message goes to the documents.")

    def _prepare_local_model(self) -> None:
        """Assemble and verify the embedded LLM's file now (once, seconds), not on the first question.
        Only the file: the model itself is loaded lazily in the web process, after gunicorn forks."""
        if settings.TESSERA["LLM_PROVIDER"] != "local":
            return
        from assistant.answering.llm.local import LocalModelUnavailable, local_model_file

        try:
            path = local_model_file(settings.TESSERA["LLM_MODEL"], Path(settings.TESSERA["MODELS_DIR"]))
        except LocalModelUnavailable as exc:
            self.stderr.write(f"The embedded LLM is unavailable ({exc}); answers will be extractive.")
            return
        self.stdout.write(f"Embedded LLM: {path.name}")


def _terminate(children: list[subprocess.Popen[bytes]], grace: float = 20.0) -> None:
    """Ask each child to stop (SIGTERM: warm shutdown), then kill whatever is left after ``grace``."""
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # the child's group: anything it forked and left
