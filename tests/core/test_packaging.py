"""A non-editable install of cycle-core carries the config tree: `cycle` finds conf/ anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_ships_the_config_tree(tmp_path) -> None:
    # built from a copy (the conf/ link followed), so the checkout's build/ and egg-info stay
    # untouched while other tests run from it in parallel
    source = tmp_path / "core"
    shutil.copytree(
        ROOT / "packages" / "core", source, ignore=shutil.ignore_patterns("build", "*.egg-info")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
        + [str(source), "-w", str(tmp_path / "wheels")],
        check=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "wheels").glob("cycle_core-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    shipped = sorted(p.relative_to(site / "cycle" / "core" / "conf") for p in site.rglob("*.yaml"))
    assert shipped == sorted(p.relative_to(ROOT / "conf") for p in (ROOT / "conf").rglob("*.yaml"))
    env = {k: v for k, v in os.environ.items() if k != "CYCLE_CONFIG_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", "from cycle.core.config import find_config_dir as f; print(f())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == site / "cycle" / "core" / "conf"
