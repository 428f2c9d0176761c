"""The checks of `scripts/device_check.sh` and their report (time and peak GPU memory per stage).

    python scripts/device_check.py run       # on the GPU machine, after device_check.sh installed
    python scripts/device_check.py dry-run   # anywhere: compose every command, collect the gpu tests
    python3 scripts/device_check.py arrival PAYLOAD   # the carried wheels the machine lacks

Checks, in order, each under its own time limit (``INSTALL_S`` plus the limits: 8 minutes in
all), each with its own data and setup so that one failing does not fail the next: SmolLM2's
GGUF converted once into the shared model cache (a later check finding none converts it
itself), the ``gpu``-marked tests, one DeepSpeed ZeRO-2 step of the SmolLM2 reviewer on a
dataset it builds, ``cycle pipeline experiment=smol`` (bf16, gradient checkpointing, compiled
static-cache decoding) with its learning report, and ``benchmarks/gpu_throughput.py``.
``DEVICE_CHECKS=a,b`` runs only the named ones; ``learning`` (issue 20's
``benchmarks/reviewer_learning.py --size gpu`` on the carried review set, ``$REVIEW_DATA``)
runs only when named, in a `run` call of its own. Peak GPU memory comes from ``nvidia-smi``
sampled every 250 ms, per check and per pipeline step. The report goes to
``$OUT/device_report.md`` (``$OUT`` defaults to ``.device/out``) with the pipeline's own
report, the throughput JSON and the learning run's output beside it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Runs, caches and outputs of the checks; device_check.sh puts them beside the venv, outside the
# tree (a later `run` call may replace what is under .device).
WORK = Path(os.environ.get("DEVICE_WORK") or ROOT / ".device" / "work")
COMMON = [f"paths.root_dir={WORK}", "logger=csv"]
SMOL = ["experiment=smol", *COMMON]
ZERO2_RUNS = f"paths.runs_dir={WORK}/zero2/runs"
ZERO2 = [
    "experiment=smol",
    "trainer=deepspeed_zero2",
    "trainer.devices=1",
    "trainer.max_steps=2",
    "max_examples=4",
    "export=false",
    f"hydra.run.dir={WORK}/zero2",
]
# The pipeline's data build, once complete (the ZeRO-2 step reads it instead of building its own).
PIPELINE_DATA = WORK / "runs" / "build_data" / "smol" / "manifest.json"
STEP_LINE = re.compile(r"step (\w+): ")
TIMING_LINE = re.compile(r"rlloop timing: (.*)")
# Seconds for unpacking and installing the carry (measured 39 s on 2026-12-04, 49 s the first
# time, when the venv built its own pip).
INSTALL_S = 50
# The whole run, install included, fits the 10-minute `run` command with room to spare.
RUN_BUDGET_S = 8 * 60
# issue 20's reviewer learning run at --size gpu (a `run` call of its own; not measured yet).
LEARNING_S = 240
CONVERT = (
    "import sys; from cycle.core.config import load_stage_config; "
    "from cycle.core.models import resolve_model_path; "
    "print(resolve_model_path(load_stage_config('train_reviewer', sys.argv[1:]).model))"
)


@dataclass
class Check:
    key: str
    name: str
    argv: list[str]
    timeout_s: int
    rc: int | None = None
    seconds: float = 0.0
    peak_mib: int | None = None
    steps: list[tuple[str, float, int | None]] = field(default_factory=list)
    timings: list[str] = field(default_factory=list)  # the rlloop's "rlloop timing:" lines


def checks(review_data: Path | None = None) -> list[Check]:
    """Every check with its limit, in order: the pipeline right after the conversion (it gets the
    most time; its data build then serves the ZeRO-2 step), the gpu tests (green on 2026-12-04)
    last. Limits: seconds measured on the H200 on 2026-12-04 plus margin, 8 minutes in all."""
    py, cycle = sys.executable, [sys.executable, "-m", "cycle.core.cli"]
    own_data = shlex.join([*cycle, "build_data", "experiment=smol", "token_stats=false"])
    own_data += " " + shlex.join([ZERO2_RUNS, *COMMON])
    zero2 = f'if grep -q \'"status": "complete"\' {shlex.quote(str(PIPELINE_DATA))}; then '
    zero2 += f"runs={shlex.quote(f'paths.runs_dir={WORK}/runs')}; "
    zero2 += f"else {own_data} && runs={shlex.quote(ZERO2_RUNS)}; fi && "
    zero2 += shlex.join([*cycle, "train_reviewer", *ZERO2, *COMMON]) + ' "$runs"'
    convert = [py, "-c", CONVERT, "experiment=smol", *COMMON]
    throughput = [py, "benchmarks/gpu_throughput.py", "--budget-s", "30"]
    throughput += ["--out", str(WORK / "throughput.json")]
    found = [
        # measured 40.0 s (imports included), exactly at its limit then
        Check("convert", "SmolLM2 GGUF conversion (cached)", convert, 55),
        # measured: build_data 22.6 s, train_reviewer 69.4, train_researcher 48.7, then rlloop
        # past 400 s (two calls): cut inside rlloop here, with its phases logged as they end;
        # `DEVICE_CHECKS=pipeline` in a next call resumes at the first unfinished rlloop step
        Check("pipeline", "cycle pipeline experiment=smol", [*cycle, "pipeline", *SMOL], 180),
        # measured: its own data build, DeepSpeed init and 2 steps did not fit 40 s; now it
        # reads the pipeline's data when that build completed
        Check("zero2", "ZeRO-2 step, SmolLM2 reviewer", ["bash", "-c", zero2], 50),
        # measured nothing in 55 s (its packed rows never filled; fixed); 30 s of budget from
        # the first measurement, then each section's first comparison only (generation at
        # batch 16 with its compilation, SFT at 2K, SimPO vs TRL: about a minute, not measured)
        Check("throughput", "GPU throughput (benchmarks/gpu_throughput.py)", throughput, 90),
        # measured 49 s for 4 tests (one more check since: static-cache decoding stops at EOS)
        Check("gpu-tests", "gpu tests", [py, "-m", "pytest", "-q", "-m", "gpu"], 55),
    ]
    learning = ROOT / "benchmarks" / "reviewer_learning.py"
    if learning.is_file() and review_data is not None and review_data.is_dir():
        # CYCLE_ROOT: its stages find SmolLM2's conversion in the checks' cache
        argv = ["env", f"CYCLE_ROOT={WORK}", py, str(learning), "--size", "gpu"]
        argv += ["--data", str(review_data)]
        argv += ["--out", str(WORK / "reviewer_learning")]
        found.append(Check("learning", "reviewer learning (gpu)", argv, LEARNING_S))
    return found


def selected(found: list[Check], keys: str | None) -> list[Check]:
    """``keys`` (comma-separated, e.g. ``learning``) or, by default, every check but the
    learning run, which has a `run` call of its own (it does not fit the 8 minutes beside them)."""
    want = keys.split(",") if keys else [c.key for c in found if c.key != "learning"]
    unknown = set(want) - {c.key for c in found}
    if unknown:
        known = ", ".join(c.key for c in found)
        raise SystemExit(f"DEVICE_CHECKS: no check {', '.join(sorted(unknown))} here ({known})")
    return [c for c in found if c.key in want]


class GpuMemory:
    """``nvidia-smi`` memory.used (MiB) of GPU 0, sampled every 250 ms with a timestamp."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, int]] = []
        self.proc = None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                [
                    "nvidia-smi",
                    "-i",
                    "0",
                    "--query-gpu=memory.used",
                    "--format=csv,noheader,nounits",
                    "-lms",
                    "250",
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.strip().isdigit():
                self.samples.append((time.time(), int(line)))

    def peak(self, start: float, end: float) -> int | None:
        window = [m for t, m in self.samples if start <= t <= end]
        return max(window) if window else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()


def run_check(check: Check, memory: GpuMemory, log_dir: Path) -> None:
    """Run one check, its output to ``<log_dir>/<name>.log``; pipeline steps timed from its log."""
    start = time.time()
    marks: list[tuple[str, float]] = []
    log = log_dir / (re.sub(r"\W+", "_", check.name).strip("_") + ".log")
    with log.open("w") as sink:
        proc = subprocess.Popen(
            check.argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: a timeout ends the stage it started too
        )
        timer = threading.Timer(check.timeout_s, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            sink.write(line)
            if m := STEP_LINE.search(line):
                marks.append((m.group(1), time.time()))
            if m := TIMING_LINE.search(line):
                check.timings.append(m.group(1))
        check.rc = proc.wait()
        timer.cancel()
    end = time.time()
    check.seconds = round(end - start, 1)
    check.peak_mib = memory.peak(start, end)
    bounds = [t for _, t in marks[1:]] + [end] if marks else []
    check.steps = [
        (name, round(stop - t, 1), memory.peak(t, stop))
        for (name, t), stop in zip(marks, bounds, strict=True)
    ]


def report(done: list[Check], device: str) -> str:
    """Markdown: one row per check (exit code -9: cut at its time limit), then per pipeline step."""
    mib = lambda v: "-" if v is None else str(v)  # noqa: E731
    lines = [
        "# Device check",
        "",
        f"Device: {device}",
        "",
        "| Check | Exit code | Seconds (limit) | Peak GPU memory (MiB) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {c.name} | {c.rc} | {c.seconds} ({c.timeout_s}) | {mib(c.peak_mib)} |" for c in done
    ]
    for c in done:
        if c.steps:
            lines += [
                "",
                f"## {c.name}: per step",
                "",
                "| Step | Seconds | Peak GPU memory (MiB) |",
                "|---|---|---|",
            ]
            lines += [f"| {s} | {sec} | {mib(p)} |" for s, sec, p in c.steps]
        if c.timings:
            lines += ["", f"## {c.name}: rlloop phases as logged (each start and end)", ""]
            lines += [f"- {t}" for t in c.timings]
    return "\n".join(lines) + "\n"


def arrival(payload: Path) -> list[Path]:
    """The carried wheels the machine lacks by its own ``pip list``; on stderr, what it has
    already (not installed again) and what ``device_machine.txt`` promised but it lacks."""
    from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    have = {canonicalize_name(d["name"]) for d in json.loads(listed.stdout)}
    missing: list[Path] = []
    for path in sorted((payload / "wheels").iterdir()):
        parse = parse_wheel_filename if path.suffix == ".whl" else parse_sdist_filename
        name = parse(path.name)[0]
        if name in have:
            print(f"arrival: the machine has {name}: not installed from the carry", file=sys.stderr)
        else:
            missing.append(path)
    machine = ROOT / "scripts" / "device_machine.txt"
    promised = {
        canonicalize_name(n)
        for line in machine.read_text().splitlines()
        if (n := line.split("#")[0].strip())
    }
    if lacks := sorted(promised - have):
        print(
            f"arrival: device_machine.txt lists, the machine lacks: {' '.join(lacks)}",
            file=sys.stderr,
        )
    print(f"arrival: {len(missing)} distributions to install", file=sys.stderr)
    return missing


def dry_run() -> int:
    """Compose every command the checks run (each pipeline step as the pipeline would) and
    collect the gpu tests: what can be checked without a GPU."""
    from cycle.core.config import load_stage_config

    planned = [
        ("build_data", ["experiment=smol", "token_stats=false", ZERO2_RUNS, *COMMON]),
        ("train_reviewer", [*ZERO2, *COMMON, ZERO2_RUNS]),
        ("train_reviewer", [*ZERO2, *COMMON, f"paths.runs_dir={WORK}/runs"]),
    ]
    pipeline = load_stage_config("pipeline", SMOL)
    for step in pipeline.steps.values():
        planned.append((step.stage, [*SMOL, *step.overrides]))
    for stage, overrides in planned:
        cfg = load_stage_config(stage, overrides)
        model = getattr(cfg, "model", None)
        print(f"composes: cycle {stage} {' '.join(overrides)} (model {model and model.name})")
    for check in checks(Path(os.environ.get("REVIEW_DATA", "/nonexistent"))):
        print(f"check: {check.key} ({check.timeout_s} s): {shlex.join(check.argv)}")
    collect = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "gpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    summary = (collect.stdout.strip().splitlines() or ["(no output)"])[-1]
    print(f"gpu tests: {summary}")
    return 0 if collect.returncode == 0 and "selected" in summary else 1


def main() -> int:
    mode = sys.argv[1] if len(sys.argv) > 1 else "run"
    if mode == "dry-run":
        return dry_run()
    if mode == "arrival":
        print("\n".join(str(p) for p in arrival(Path(sys.argv[2]))))
        return 0
    out = Path(os.environ.get("OUT") or ROOT / ".device" / "out")
    (out / "logs").mkdir(parents=True, exist_ok=True)
    review_data = os.environ.get("REVIEW_DATA")
    todo = selected(
        checks(Path(review_data) if review_data else None), os.environ.get("DEVICE_CHECKS")
    )
    device = (
        subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if shutil.which("nvidia-smi")
        else "no nvidia-smi"
    )
    memory = GpuMemory()
    done: list[Check] = []
    try:
        for check in todo:
            run_check(check, memory, out / "logs")
            done.append(check)
            (out / "device_report.md").write_text(report(done, device))  # kept if cut short
    finally:
        memory.stop()
    results = [
        (WORK / "runs" / "pipeline" / "smol" / "report.md", "pipeline_report.md"),
        (WORK / "runs" / "rlloop" / "smol" / "report.md", "rlloop_report.md"),
        (WORK / "throughput.json", "gpu_throughput.json"),
        (WORK / "reviewer_learning", "reviewer_learning"),
    ]
    for source, name in results:
        if source.is_dir():
            shutil.copytree(source, out / name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy(source, out / name)
    print(report(done, device))
    return max((c.rc or 0) != 0 for c in done)


if __name__ == "__main__":
    sys.exit(main())
