"""Fixtures shared by every app's tests: factories, real services, a real Celery worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from django.db import connection

from config.broker import broker_config
from governance.models import Role
from governance.tests.factories import MembershipFactory, TenantFactory, UserFactory

REPO = Path(__file__).resolve().parent
IN_CI = bool(os.environ.get("CI"))


def need_service(reason: str) -> None:
    """A test that needs a missing service skips on a laptop and FAILS in CI."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set: services must be up)")
    pytest.skip(reason)


def redis_available(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(autouse=True)
def isolated_files(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Each test gets its own uploaded-files and index folders (ids can repeat across tests)."""
    from config.engines import reset_engines

    data_dir = tmp_path / "data"
    settings.MEDIA_ROOT = data_dir / "files"
    settings.INDEX_DIR = data_dir / "indexes"
    reset_engines()
    yield data_dir
    reset_engines()


@pytest.fixture
def real_embedder(settings: Any) -> Iterator[None]:
    """Use the real packaged model (the fast variant Tessera runs by default)."""
    from config.engines import reset_engines

    settings.TESSERA = {**settings.TESSERA, "EMBEDDER": "auto"}
    reset_engines()
    yield
    reset_engines()


@pytest.fixture
def redis_url() -> str:
    """A Redis database for tests (TEST_REDIS_URL, default db 15 on localhost)."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    if not redis_available(url):
        need_service(f"Redis is not reachable at {url}")
    return url


@pytest.fixture
def tenant_factory() -> type[TenantFactory]:
    return TenantFactory


@pytest.fixture
def member_of() -> Callable[..., Any]:
    """``member_of(tenant, role="member")`` -> a new user with a membership in ``tenant``."""

    def make(tenant: Any, role: str = Role.MEMBER, **user_kwargs: Any) -> Any:
        user = UserFactory.create(**user_kwargs)
        MembershipFactory.create(tenant=tenant, user=user, role=role)
        return user

    return make


def database_url_for_workers() -> str:
    """A URL that points another process (a worker) at the database this test run uses."""
    params = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    user, password = params.get("USER") or "", params.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return (
        f"postgres://{auth}{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"
    )


class WorkerProcess:
    """A real ``celery worker`` child process and a client app bound to the same broker."""

    def __init__(
        self, broker_url: str, data_dir: Path, log_path: Path, extra_env: dict[str, str] | None = None
    ):
        from django.conf import settings

        visibility = int((extra_env or {}).get("CELERY_VISIBILITY_TIMEOUT", "3600"))
        config = broker_config(broker_url, data_dir, visibility_timeout=visibility)
        # Not the current app: shared tasks resolve through the current app (thread-local), and a test
        # that patches one (e.g. `.delay`) must patch the one the live server thread calls too.
        self.client = Celery(
            "tessera-test-client",
            broker=config.broker_url,
            backend=config.result_backend,
            set_as_current=False,
        )
        self.client.conf.update(
            broker_transport_options=config.transport_options,
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
        )
        self.env = {
            **os.environ,
            "CELERY_BROKER_URL": config.broker_url,
            "CELERY_RESULT_BACKEND": config.result_backend,
            "TESSERA_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url_for_workers(),
            "TESSERA_MODELS_DIR": str(settings.TESSERA["MODELS_DIR"]),
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "--hostname",
                f"test{os.getpid()}@%h",
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the pool children
        )
        # Ready means: it answers a real task.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                self.client.send_task("tessera.ping", args=["ready"]).get(timeout=5)
                return
            except Exception:  # noqa: S112 - not ready yet
                continue
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once, as a crash or the OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def celery_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Celery reads CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment BEFORE any
    explicit configuration; drop them so an app configured in a test means what it says (the
    Django settings, and so the project's app, already hold the same values)."""
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def celery_worker_factory(
    isolated_files: Path, tmp_path: Path, celery_env_unset: None
) -> Iterator[Callable[..., WorkerProcess]]:
    """Start real worker processes on a broker URL, sharing this test's data folder (uploaded
    files, indexes); all are stopped after the test. ``extra_env`` adds environment variables."""
    workers: list[WorkerProcess] = []

    def start(broker_url: str, extra_env: dict[str, str] | None = None) -> WorkerProcess:
        log_path = tmp_path / f"worker{len(workers)}.log"
        worker = WorkerProcess(broker_url, isolated_files, log_path, extra_env)
        workers.append(worker)
        worker.start()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _forget_broker_pools(app: Any) -> None:
    """Drop the app's pooled broker connections, so that the next task is sent with its current
    configuration (what Celery itself does after a fork; kombu keys its pools by the transport
    options, so the new folders get a pool of their own)."""
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def live_worker(celery_worker_factory: Any) -> Iterator[Any]:
    """A real worker on the embedded broker in this test's data folder, and the project's Celery app
    (which the live server's uploads enqueue through) pointed at the same queue for the test."""
    from config.broker import EMBEDDED_BROKER_URL
    from config.celery import app

    started = celery_worker_factory(EMBEDDED_BROKER_URL)
    keys = ("broker_url", "broker_transport_options", "result_backend")
    saved = {key: app.conf[key] for key in keys}
    app.conf.update({key: started.client.conf[key] for key in keys})
    _forget_broker_pools(app)
    yield started
    app.conf.update(saved)
    _forget_broker_pools(app)


CHROMIUM = Path(os.environ.get("TESSERA_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = REPO / "test-artifacts"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not CHROMIUM.exists():
        need_service(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django's ORM calls in the test are safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield launched
        launched.close()


# Every Content-Security-Policy violation in a page is said on its console (Chromium says so itself
# for most; the listener also catches those it reports only as an event).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`Content Security Policy violation: ${event.effectiveDirective} blocked `
    + `${event.blockedURI || "inline code"} at ${event.sourceFile}:${event.lineNumber} ${event.sample}`);
});
"""


def watch_csp(context: Any, violations: list[str] | None = None) -> list[str]:
    """Record every Content-Security-Policy violation in ``context``'s pages (pages opened later
    included) in ``violations`` (a new list if none), and return it."""
    found: list[str] = [] if violations is None else violations

    def record(message: Any) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"{message.page.url if message.page else '?'}: {message.text}")

    context.add_init_script(CSP_LISTENER)
    context.on("console", record)
    return found


@pytest.fixture
def csp_violations() -> list[str]:
    """The Content-Security-Policy violations seen so far by the ``page`` fixture's browser context
    (a test may assert on them at any step; the fixture asserts there are none at the end)."""
    return []


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest, csp_violations: list[str]) -> Iterator[Any]:
    """A fresh browser context per test; a screenshot of the last page is kept as an artifact.

    The app's pages must work under their strict Content-Security-Policy: any violation in the
    test's pages fails it (at teardown, if the test did not look itself)."""
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    watch_csp(context, csp_violations)
    new_page = context.new_page()
    new_page.set_default_timeout(15_000)
    yield new_page
    ARTIFACTS.mkdir(exist_ok=True)
    new_page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


AXE_JS = REPO / "tests" / "vendor" / "axe.min.js"


@pytest.fixture
def axe() -> Callable[[Any], list[dict[str, Any]]]:
    """``axe(page)``: run the vendored axe-core on the page and fail on serious or critical violations
    (WCAG 2 A/AA rules); returns all violations for the test to inspect."""

    def check(page: Any) -> list[dict[str, Any]]:
        # Evaluated, not added as an inline <script> (which the page's Content-Security-Policy blocks).
        page.evaluate(AXE_JS.read_text(encoding="utf-8"))
        result = page.evaluate(
            "async () => await axe.run(document, {runOnly: {type: 'tag', "
            "values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
        )
        violations: list[dict[str, Any]] = result["violations"]
        serious = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert not serious, "accessibility violations:\n" + "\n".join(serious)
        return violations

    return check


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Every test starts with an empty cache (API rate-limit counts must not leak between tests)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def fresh_llm_breakers() -> Iterator[None]:
    """Every test starts with closed circuits (a breaker opened by one test must not leak)."""
    from assistant.answering.llm.client import reset_breakers

    reset_breakers()
    yield
    reset_breakers()


@pytest.fixture
def use_llm(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[[Any], Any]:
    """Answer with ``model`` (a LangChain chat model, e.g. a scripted fake) as every tenant's LLM."""

    def install(model: Any) -> Any:
        settings.TESSERA = {**settings.TESSERA, "LLM_PROVIDER": "local", "LLM_MODEL": "test-model"}
        monkeypatch.setattr("assistant.answering.pipeline.chat_model_for", lambda config, models_dir: model)
        return model

    return install


@pytest.fixture
def use_router(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Route chat messages with ``router`` (default: the keyword fake of retrieval.intent)."""

    def install(router: Any = None) -> Any:
        from retrieval.intent import FakeIntentRouter

        router = router or FakeIntentRouter()
        settings.TESSERA = {**settings.TESSERA, "INTENT_ROUTING": True}
        monkeypatch.setattr("assistant.answering.pipeline.get_intent_router", lambda: router)
        return router

    return install
