"""Architecture rules that a reviewer would otherwise have to catch by eye."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_retrieval_is_plain_python_without_django():
    offenders = {
        str(path.relative_to(REPO)): sorted(
            n for n in _imports(path) if n.split(".")[0] in {"django", "rest_framework"}
        )
        for path in (REPO / "retrieval").rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_no_asset_comes_from_a_cdn():
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text().lower()
        assert "cdn." not in text and "unpkg" not in text and "//" not in text.replace("://", ""), path


PRODUCT = ("config", "governance", "ingest", "retrieval", "assistant")


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
            for n in _imports(path)
            if n.split(".")[0] in {"evaluation", "bench", "tests", "conftest"} or ".tests" in f".{n}"
        )
        for path in _product_modules()
    }
    assert not {k: v for k, v in offenders.items() if v}
