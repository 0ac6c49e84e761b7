"""What the layering rules read from the code: each module's imports of the project, the calls that
write through the ORM, and the import cycles between modules. Plain ``ast``, nothing imported, so a
rule can be checked on any folder (``tests/test_layering.py`` checks the project and a fixture)."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

PROJECT = ("config", "governance", "ingest", "retrieval", "assistant", "evaluation", "bench", "tests")
# The ORM calls that write; a module that only translates (a view, an API, a task, a command) leaves
# them to services.
ORM_WRITES = frozenset(
    {"create", "bulk_create", "get_or_create", "update_or_create", "update", "delete", "bulk_update"}
)


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, packages: Iterable[str], *, tests: bool = False) -> dict[str, Path]:
    """The modules of ``packages`` under ``root`` by dotted name (without test code and migrations,
    unless ``tests``)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).parts
            if "migrations" in parts or (not tests and ("tests" in parts or parts[-1] == "conftest.py")):
                continue
            found[module_name(root, path)] = path
    return found


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at its top or inside a function (a deferred import is still a
    dependency), except under ``if TYPE_CHECKING:``; ``from a import b`` counts as ``a`` and ``a.b``."""
    names: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            names.update(alias.name for alias in node.names)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)

    Visitor().visit(ast.parse(path.read_text(), filename=str(path)))
    return names


def project_imports(path: Path) -> set[str]:
    """The project modules (and packages) ``path`` imports."""
    return {name for name in imports(path) if name.split(".")[0] in PROJECT}


def orm_writes(path: Path) -> list[str]:
    """``<Model>.objects.<write>(...)`` calls in ``path``, as "line: call"."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr in ORM_WRITES and "objects" in ast.unparse(node.func.value).split("."):
            found.append(f"{node.lineno}: {ast.unparse(node.func)}")
    return found


def import_cycles(found: dict[str, Path]) -> list[list[str]]:
    """The import cycles among ``found`` modules: the sets of two or more modules that each reach the
    others through their imports, sorted (a few hundred modules: reachability from each is enough)."""
    graph = {
        name: {n for n in project_imports(path) if n in found and n != name} for name, path in found.items()
    }
    reach = {name: _reachable(graph, name) for name in graph}
    cycles = {
        tuple(sorted({name} | {other for other in reach[name] if name in reach[other]}))
        for name in graph
        if any(name in reach[other] for other in reach[name])
    }
    return sorted(list(cycle) for cycle in cycles)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen
