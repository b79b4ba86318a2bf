"""The architecture holds: no import cycle among project modules, and the import-linter contracts bite.

import-linter (the lint tier) checks layers, forbidden imports, independent stages and acyclic siblings. What it
cannot say is "no cycle between any two modules, wherever they sit": that is checked here over every import
statement, function-level (lazy) ones included, because a lazy import still couples two modules.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pipeline", "webapp", "bench")


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project's packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imported_names(tree: ast.AST, package: str) -> Iterable[str]:
    for node in ast.walk(tree):  # walks function bodies too: lazy imports count
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(root: Path) -> dict[str, set[str]]:
    """Edges module -> project modules it imports (a name resolves to its longest known module prefix)."""
    files = module_files(root)
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for target in _imported_names(ast.parse(path.read_text(), str(path)), package):
            while target and target not in files:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
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
                        found.append(sorted(component))
    return found


def _copy_project(dest: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _plant(path: Path, line: str) -> None:
    """Add a function-level import, the kind that is easiest to miss."""
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {line}  # noqa\n")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_it_finds_no_import_cycle_among_project_modules() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 100
    assert cycles(graph) == []


def test_it_finds_a_cycle_made_by_a_lazy_import(tmp_path: Path) -> None:
    copy = _copy_project(tmp_path)
    _plant(copy / "pipeline" / "answers.py", "from pipeline import prompts")  # prompts imports answers
    assert ["pipeline.answers", "pipeline.prompts"] in cycles(import_graph(copy))


def test_it_keeps_every_import_linter_contract() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout


@pytest.mark.parametrize(
    ("planted_in", "line", "contract"),
    [
        ("pipeline/media.py", "import django", "pipeline is plain Python"),
        ("pipeline/answers.py", "from webapp.core import models", "pipeline is plain Python"),
        ("pipeline/answers.py", "from pipeline import prompts", "no cycles between sibling modules"),
        ("pipeline/sft.py", "from pipeline import grpo", "pipeline stages do not know each other"),
        ("webapp/core/storage.py", "from webapp.training import models", "web app apps are layered"),
    ],
)
def test_it_breaks_a_contract_when_a_forbidden_import_is_added(
    tmp_path: Path, planted_in: str, line: str, contract: str
) -> None:
    copy = _copy_project(tmp_path)
    _plant(copy / planted_in, line)
    result = _lint_imports(copy)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(ln.startswith(contract) for ln in broken), result.stdout
