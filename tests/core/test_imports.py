"""Import hygiene: heavy engines load only on the code path that needs them, and imports point
the way the architecture allows (reviewer and researcher never import each other; nothing imports rlloop)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGES = Path(__file__).resolve().parents[2] / "packages"
ALLOWED = {
    "core": {"core"},
    "data": {"core", "data"},
    "reviewer": {"core", "data", "reviewer"},
    "researcher": {"core", "data", "researcher"},
    "integrity": {"core", "data", "integrity"},  # data only lazily, for the bundled human texts
    "rlloop": {"core", "data", "reviewer", "researcher", "rlloop"},
}


@pytest.mark.parametrize(
    "module",
    [
        "cycle.data",
        "cycle.data.stages",
        "cycle.reviewer",
        "cycle.researcher",
        "cycle.integrity",
        "cycle.rlloop",
        "cycle.core.generation",
    ],
)
def test_importing_a_package_loads_no_heavy_engine(module):
    code = f"import sys, {module}; print(sorted(m for m in ('vllm', 'deepspeed', 'wandb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_follow_the_dependency_direction(package):
    for path in (PACKAGES / package / "src" / "cycle" / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("cycle."):
                    target = name.split(".")[1]
                    assert target in ALLOWED[package], (
                        f"{path.relative_to(PACKAGES)} imports {name}"
                    )


def _module_graph() -> dict[str, set[str]]:
    """``cycle.*`` module -> the ``cycle.*`` modules it imports (at any depth: lazy imports too)."""
    files = {}
    for path in PACKAGES.glob("*/src/cycle/**/*.py"):
        parts = path.relative_to(PACKAGES).with_suffix("").parts[2:]  # <package>/src/ dropped
        files[".".join(parts).removesuffix(".__init__")] = path
    graph = {}
    for module, path in files.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom) and node.module in files:
                deps |= {
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                    for a in node.names
                }
        graph[module] = deps - {module}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (depth-first search, a back edge closes it), else None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == "open":
                return [*path[path.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        state[module] = "done"
        path.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_no_import_cycle_between_modules():
    graph = _module_graph()
    assert "cycle.core.config" in graph and "cycle.data.records" in graph
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None
