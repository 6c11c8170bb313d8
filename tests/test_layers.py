"""The package's structure stays one-way: layers (import-linter, configured in pyproject.toml),
no import cycle, no module over 450 lines, and upward imports only where documented."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qiskit_aer_jobstore"
MAX_LINES = 450
# The few imports that run up a layer, inside a function, each with a one-line comment saying
# why where it is made (importer -> imported). Anything else upward fails the layers contract.
DOCUMENTED_UPWARD = {
    ("qiskit_aer_jobstore.job", "qiskit_aer_jobstore.notebook"),
    ("qiskit_aer_jobstore.listing", "qiskit_aer_jobstore.notebook"),
}
# The demo is written as a user writes: against the package's public face.
USERS_OF_THE_FACE = {"qiskit_aer_jobstore.demo"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PACKAGE.rglob("*.py")}


def _targets(module: str, node: ast.AST, is_package: bool) -> list[str]:
    """The package modules an import statement names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            stem = ".".join(base + ([node.module] if node.module else []))
        else:
            stem = node.module or ""
        names = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in MODULES else stem for a in node.names]
    else:
        return []
    found = []
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("qiskit_aer_jobstore") and name != module:
            found.append(name)
    return found


def _graph(function_local: bool) -> dict[str, set[str]]:
    """Module -> the package modules it imports (at module level, or anywhere)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        edges = graph.setdefault(module, set())

        def walk(node: ast.AST, in_function: bool, module=module, path=path, edges=edges) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue  # never runs
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    if function_local or not in_function:
                        edges.update(_targets(module, child, path.name == "__init__.py"))
                walk(child, in_function or isinstance(child, (ast.FunctionDef,
                                                              ast.AsyncFunctionDef)))

        walk(ast.parse(path.read_text()), False)
    graph.pop("qiskit_aer_jobstore", None)  # the package's face imports everything
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_layers_contract_holds():
    """import-linter's layers contract (pyproject.toml), function-local imports included."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(PACKAGE.parent / "pyproject.toml")) == 0


def test_no_import_cycle_at_module_level():
    assert _cycles(_graph(function_local=False)) == []


def test_function_local_imports_make_no_cycle_longer_than_four_modules():
    assert [sorted(c) for c in _cycles(_graph(function_local=True)) if len(c) > 4] == []


def test_nothing_imports_the_package_face():
    """``from . import __version__`` made every module depend on the package's __init__."""
    graph = _graph(function_local=True)
    found = {m for m, targets in graph.items() if "qiskit_aer_jobstore" in targets}
    assert sorted(found - USERS_OF_THE_FACE) == []


def test_upward_imports_are_the_documented_ones_with_a_reason():
    graph = _graph(function_local=True)
    for importer, imported in DOCUMENTED_UPWARD:
        assert imported in graph[importer], f"{importer} no longer imports {imported}: drop it"
        lines = MODULES[importer].read_text().splitlines()
        stem = imported.rsplit(".", 1)[-1]
        assert any(f"import {stem}" in line or f".{stem} import" in line and "#" in line
                   for line in lines if "#" in line), f"{importer} -> {imported} says no why"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_holds_two_ideas(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES})"
