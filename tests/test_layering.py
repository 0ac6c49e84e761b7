"""Architecture rules that a reviewer would otherwise have to catch by eye: the rules of
``../shared/ARCHITECTURE.md`` and ``docs/architecture.md``, each checked on the code, and each shown to
fail on a fixture that breaks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from tests.layering import import_cycles, imports, modules, orm_writes, project_imports

PRODUCT = ("config", "governance", "ingest", "retrieval", "assistant")
# What each app may import of the project (besides itself). Evaluation measures the product and may
# import all of it; config is the composition root (settings, URLs, the Celery app).
ALLOWED = {
    "retrieval": set(),  # plain Python: no Django, nothing of the project
    "governance": {"config"},  # tenants, access, audit: no other app
    "ingest": {"config", "governance", "retrieval"},  # never the question side
    "assistant": {"config", "governance", "ingest", "retrieval"},
    "evaluation": {"config", "governance", "ingest", "retrieval", "assistant"},
}
# The modules that only translate input and output: they call services and selectors, which write.
TRANSLATORS = ("views.py", "_views.py", "tasks.py", "api.py")
TRANSLATOR_FOLDERS = (("management", "commands"), ("assistant", "api"))


def _app_violations(root: Path) -> dict[str, list[str]]:
    found = modules(root, ALLOWED)
    out = {}
    for name, path in found.items():
        app = name.split(".")[0]
        bad = sorted(n for n in project_imports(path) if n.split(".")[0] not in ALLOWED[app] | {app})
        if bad:
            out[name] = bad
    return out


def _translator(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    if parts[0] == "config" and parts[-1] == "api.py":
        return False  # the REST framework's plumbing (paging, errors, the API-call audit), not an endpoint
    folders = any(parts[i : i + 2] == pair for pair in TRANSLATOR_FOLDERS for i in range(len(parts)))
    return folders or parts[-1].endswith(TRANSLATORS)


def _translators_writing(root: Path) -> dict[str, list[str]]:
    found = modules(root, ("config", "governance", "ingest", "assistant", "evaluation"))
    writes = {name: orm_writes(path) for name, path in found.items() if _translator(path, root)}
    return {name: calls for name, calls in writes.items() if calls}


def test_each_app_imports_only_what_its_layer_allows():
    assert _app_violations(REPO) == {}


def _ingest_tables_read_outside(root: Path) -> dict[str, list[str]]:
    """Question-side modules that import ingest's models: ingest owns its tables, and the question
    side reads them through ``ingest.selectors`` (its own models may still point at them)."""
    found = modules(root, ("assistant",))
    return {
        name: sorted(n for n in project_imports(path) if n.startswith("ingest.models"))
        for name, path in found.items()
        if name != "assistant.models" and any(n.startswith("ingest.models") for n in project_imports(path))
    }


def test_the_question_side_reads_ingest_only_through_its_selectors():
    assert _ingest_tables_read_outside(REPO) == {}


def test_views_apis_tasks_and_commands_leave_writes_to_services():
    assert _translators_writing(REPO) == {}


def test_no_import_cycle_between_modules():
    # deferred imports count: an import inside a function hides a cycle, it does not break one
    assert import_cycles(modules(REPO, (*PRODUCT, "evaluation"))) == []


@pytest.fixture
def broken_tree(tmp_path):
    """A project that breaks every rule once."""
    files = {
        "retrieval/store.py": "import django\nfrom ingest.models import Chunk\n",
        "governance/access.py": "from ingest.models import Document\n",
        "ingest/models.py": "",
        "ingest/pipeline.py": "def run():\n    from ingest.tasks import index_task\n",
        "ingest/tasks.py": "from ingest.pipeline import run\nfrom assistant.answering import cache\n",
        "ingest/views.py": "from ingest.models import Document\nDocument.objects.filter(pk=1).delete()\n",
        "assistant/answering/cache.py": "from evaluation.harness import run\n",
        "assistant/answering/search.py": "from ingest.models import Chunk\n",
        "assistant/models.py": "from ingest.models import Document\n",
        "evaluation/harness.py": "",
    }
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in ALLOWED:
        (tmp_path / package).mkdir(exist_ok=True)
    return tmp_path


def test_the_rules_catch_a_broken_tree(broken_tree):
    assert _app_violations(broken_tree) == {
        "retrieval.store": ["ingest.models", "ingest.models.Chunk"],
        "governance.access": ["ingest.models", "ingest.models.Document"],
        "ingest.tasks": ["assistant.answering", "assistant.answering.cache"],
        "assistant.answering.cache": ["evaluation.harness", "evaluation.harness.run"],
    }
    assert _translators_writing(broken_tree) == {"ingest.views": ["2: Document.objects.filter(pk=1).delete"]}
    assert import_cycles(modules(broken_tree, ALLOWED)) == [["ingest.pipeline", "ingest.tasks"]]
    assert _django_in_retrieval(broken_tree) == {"retrieval/store.py": ["django"]}
    assert _ingest_tables_read_outside(broken_tree) == {
        "assistant.answering.search": ["ingest.models", "ingest.models.Chunk"]
    }


def _django_in_retrieval(root: Path) -> dict[str, list[str]]:
    offenders = {
        str(path.relative_to(root)): sorted(
            n for n in imports(path) if n.split(".")[0] in {"django", "rest_framework"}
        )
        for path in (root / "retrieval").rglob("*.py")
    }
    return {k: v for k, v in offenders.items() if v}


def test_retrieval_is_plain_python_without_django():
    assert _django_in_retrieval(REPO) == {}


def test_no_asset_comes_from_a_cdn():
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text().lower()
        assert "cdn." not in text and "unpkg" not in text and "//" not in text.replace("://", ""), path


def _product_modules() -> list[Path]:
    return [
        path
        for package in PRODUCT
        for path in (REPO / package).rglob("*.py")
        if "tests" not in path.relative_to(REPO).parts
    ]


def test_the_product_does_not_import_evaluation_benchmarks_or_tests():
    # Evaluation, benchmarks and test helpers measure the product; the product never needs them.
    offenders = {
        str(path.relative_to(REPO)): sorted(
            n
            for n in imports(path)
            if n.split(".")[0] in {"evaluation", "bench", "tests", "conftest"} or ".tests" in f".{n}"
        )
        for path in _product_modules()
    }
    assert not {k: v for k, v in offenders.items() if v}
