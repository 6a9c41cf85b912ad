"""The layout shows the architecture: `handlers/` builds on `bot/`, never the other way; the
management API knows nothing of Slack; handlers send no HTTP of their own; and no module
imports, even only for type checking, a module that imports it back (directly or not)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


KNOWN = modules()


def _resolve(module: str, node: ast.ImportFrom | ast.Import, package: str) -> list[str]:
    """The modules an import statement names: `from a import b` is `a.b` when that is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        anchor = package.split(".")
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in KNOWN else base for alias in node.names
    ]


def imports(module: str, path: Path) -> set[str]:
    """Every module of ours it imports anywhere (functions and `if TYPE_CHECKING:` included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import | ast.ImportFrom):
            found |= {name for name in _resolve(module, node, package) if name in KNOWN}
    found.discard(module)
    return found


GRAPH = {module: imports(module, path) for module, path in KNOWN.items()}


def third_party(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_bot_never_imports_handlers() -> None:
    upward = {
        module: sorted(name for name in targets if name.split(".")[0] == "handlers")
        for module, targets in GRAPH.items()
        if module.split(".")[0] == "bot"
    }
    assert {module: names for module, names in upward.items() if names} == {}


def test_no_import_cycle_even_under_type_checking() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("bot.pexip", {"slack_bolt", "slack_sdk", "handlers"}), ("handlers", {"httpx"})],
)
def test_lower_layers_stay_apart(package: str, forbidden: set[str]) -> None:
    offending = {
        module: sorted(third_party(path) & forbidden)
        for module, path in KNOWN.items()
        if module == package or module.startswith(package + ".")
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_no_private_name_of_a_dependency_is_imported() -> None:
    """Public APIs of dependencies only: no `_name`, no `internals` module."""
    offending = []
    for module, path in KNOWN.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] in (*PACKAGES, "__future__"):
                continue
            parts = node.module.split(".")
            names = [alias.name for alias in node.names]
            if any(p.startswith("_") or "internals" in p for p in parts) or any(
                name.startswith("_") for name in names
            ):
                offending.append(f"{module}: from {node.module} import {', '.join(names)}")
    assert offending == []
