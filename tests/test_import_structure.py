"""The shape of src/threetier: no import cycle between modules, no underscored name
imported across modules, no reach into another object's underscored members, Rich
only in cli/, boto3 only behind the one AWS API module."""

from __future__ import annotations

import ast
from pathlib import Path

import threetier

PACKAGE = Path(threetier.__file__).parent
ROOT = PACKAGE.parent
# Names whose underscored attributes are their public API, or our own object's.
REACH_OK = {"self", "cls", "sys", "os", "request"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
TREES = {name: ast.parse(path.read_text()) for name, path in MODULES.items()}


def imported(name: str, tree: ast.Module) -> list[tuple[str, str]]:
    """(module, imported name) for each import of one of our modules (absolute or relative)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                pieces = name.split(".")
                if not MODULES[name].name == "__init__.py":
                    pieces = pieces[:-1]
                base = ".".join(pieces[: len(pieces) - node.level + 1] + [node.module])
            for alias in node.names:
                found.append((base, alias.name))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names)
    return found


def edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in TREES.items():
        for base, alias in imported(name, tree):
            for target in (f"{base}.{alias}", base):
                if target in MODULES and target != name:
                    graph[name].add(target)
                    break
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle_between_modules():
    assert cycles(edges()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_underscored_name_is_imported_from_another_module():
    private = [
        f"{name} imports {base}.{alias}"
        for name, tree in TREES.items()
        for base, alias in imported(name, tree)
        if base in MODULES and alias.startswith("_") and not alias.startswith("__")
    ]
    assert private == []


def test_no_reach_into_another_objects_underscored_members():
    reaches = [
        f"{name}:{node.lineno} {node.value.id}.{node.attr}"
        for name, tree in TREES.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
        and isinstance(node.value, ast.Name) and node.value.id not in REACH_OK
    ]
    assert reaches == []


def test_no_local_module_imports_the_twin_facade():
    graph = edges()
    assert [m for m in graph if m.startswith("threetier.local.") and "threetier.local.twin" in graph[m]] == []


def users_of(package: str) -> set[str]:
    return {
        name for name, tree in TREES.items()
        if any(base == package or base.startswith(package + ".") for base, _ in imported(name, tree))
    }


def test_rich_only_in_the_cli():
    assert {m for m in users_of("rich") if not m.startswith("threetier.cli")} == set()


def test_boto3_only_behind_the_aws_api_module():
    assert users_of("boto3") | users_of("botocore") <= {"threetier.aws.api"}
