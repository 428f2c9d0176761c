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
