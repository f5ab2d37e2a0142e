"""The house keeps its shape: the import-linter contracts hold, no module is part of an import
cycle (every import statement counts, lazy and ``TYPE_CHECKING`` ones too), and
``docs/architecture.md`` names every module of the engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("osa_core", "osa_console")


def test_import_linter_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module (iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
    return out


def test_strongly_connected_finds_a_cycle() -> None:
    """The detector itself: a three-module loop is found, a chain is not."""
    loop = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(loop) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_import_cycles() -> None:
    graph = grimp.build_graph(*PACKAGES)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert strongly_connected(edges) == []


def package_modules(package: str) -> list[str]:
    base = ROOT / package
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize(("package", "heading"), [("osa_core", "engine"), ("osa_console", "console")])
def test_architecture_page_names_every_module(package: str, heading: str) -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split(f"## Modules of the {heading} (`{package}`)", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z0-9_/]+\.py)`", section))
    missing = [m for m in package_modules(package) if m not in named]
    assert missing == [], f"docs/architecture.md: add a line for each of {missing}"


MAX_LINES = 450


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_is_over_the_size_limit(package: str) -> None:
    """One idea per module: past ~450 lines a module holds two (issue 9)."""
    base = ROOT / package
    sizes = {p.relative_to(ROOT).as_posix(): len(p.read_text().splitlines()) for p in base.rglob("*.py")}
    over = {path: n for path, n in sizes.items() if n > MAX_LINES}
    assert over == {}, f"split these modules: {over}"
