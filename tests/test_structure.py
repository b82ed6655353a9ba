"""No import cycle among the modules of collector/ (issue 17, part 7).

The graph is read from the source with ``ast``, without importing anything.
An edge A -> B is any import of B in A, at the top or inside a function (an
import moved into a function to dodge a cycle is still a cycle, only a later
one), ``importlib.import_module("B")`` with a literal name, and the packages
on the way: importing ``collector.routes.types`` runs ``collector/routes/__init__.py``
first. Imports under ``if TYPE_CHECKING:`` never run and do not count, nor does a
module's import of its own enclosing packages (they are being imported already).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package) for every module under root/package."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(module: str, is_package: bool, tree: ast.Module) -> set[str]:
    """Every dotted name ``module`` imports (a module or a name in one)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph(root: Path, package: str = "collector") -> dict[str, set[str]]:
    modules = _modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        deps: set[str] = set()
        for imported in _imported_names(name, is_package, ast.parse(path.read_text(), str(path))):
            parts = imported.split(".")
            for i in range(1, len(parts) + 1):  # the packages on the way, and the module
                target = ".".join(parts[:i])
                if target in modules and not (name == target or name.startswith(target + ".")):
                    deps.add(target)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _describe(graph: dict[str, set[str]], component: list[str]) -> str:
    return "; ".join(
        f"{m} -> {', '.join(sorted(graph[m] & set(component)))}" for m in component
    )


def test_collector_has_no_import_cycle() -> None:
    graph = import_graph(ROOT)
    # the reader sees what it must: the app mounts the console by name, views use the store
    assert "collector.console" in graph["collector.app"]
    assert "collector.store.base" in graph["collector.console.views"]
    found = cycles(graph)
    assert not found, "import cycles in collector/: " + " | ".join(
        _describe(graph, c) for c in found
    )


def test_the_check_sees_a_cycle_dodged_inside_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "collector"
    (pkg / "store").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "app.py").write_text(
        "import importlib\n\ndef mount():\n    importlib.import_module('collector.console')\n"
    )
    (pkg / "console.py").write_text("def view():\n    from collector.app import TOKENS\n")
    (pkg / "store" / "__init__.py").write_text("from collector.store.base import Store\n")
    (pkg / "store" / "base.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from collector.app import X\n"
        "class Store: ...\n"
    )
    (pkg / "store" / "sqlite.py").write_text("from collector.store.base import Store\n")
    (pkg / "metrics.py").write_text("from collector.store.base import Store\n")
    (pkg / "store" / "writer.py").write_text("from collector.metrics import x\n")
    graph = import_graph(tmp_path)
    assert cycles(graph) == [["collector.app", "collector.console"]]
    # through a package's __init__: store -> writer -> metrics -> store (package)
    (pkg / "store" / "__init__.py").write_text("from collector.store import writer\n")
    assert ["collector.metrics", "collector.store", "collector.store.writer"] in cycles(
        import_graph(tmp_path)
    )
