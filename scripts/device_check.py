"""The checks of `scripts/device_check.sh` and their report (time and peak GPU memory per stage).

    python scripts/device_check.py run       # on the GPU machine, after device_check.sh installed
    python scripts/device_check.py dry-run   # anywhere: compose every command, collect the gpu tests

Checks, in order, each under its own time limit (8 minutes in all): the ``gpu``-marked tests, one
DeepSpeed ZeRO-2 step of the SmolLM2 reviewer on one GPU, and ``cycle pipeline experiment=smol``
(bf16, gradient checkpointing). Peak GPU memory comes from ``nvidia-smi`` sampled every 250 ms,
per check and per pipeline step. The report goes to ``$OUT/device_report.md`` (``$OUT`` defaults
to ``.device/out``) with the pipeline's own report beside it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".device" / "work"
COMMON = [f"paths.root_dir={WORK}", "logger=csv"]
ZERO2 = [
    "experiment=smol",
    "trainer=deepspeed_zero2",
    "trainer.devices=1",
    "trainer.max_steps=2",
    "max_examples=4",
    "export=false",
    f"hydra.run.dir={WORK}/zero2",
]
STEP_LINE = re.compile(r"step (\w+): ")


@dataclass
class Check:
    name: str
    argv: list[str]
    timeout_s: int
    rc: int | None = None
    seconds: float = 0.0
    peak_mib: int | None = None
    steps: list[tuple[str, float, int | None]] = field(default_factory=list)


def checks() -> list[Check]:
    py, cycle = sys.executable, [sys.executable, "-m", "cycle.core.cli"]
    return [
        Check("gpu tests", [py, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider"], 100),
        Check(
            "build_data (experiment=smol)", [*cycle, "build_data", "experiment=smol", *COMMON], 45
        ),
        Check("ZeRO-2 step, SmolLM2 reviewer", [*cycle, "train_reviewer", *ZERO2, *COMMON], 75),
        Check(
            "cycle pipeline experiment=smol", [*cycle, "pipeline", "experiment=smol", *COMMON], 240
        ),
    ]


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
        "| Check | Exit code | Seconds | Peak GPU memory (MiB) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {c.name} | {c.rc} | {c.seconds} | {mib(c.peak_mib)} |" for c in done]
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
    return "\n".join(lines) + "\n"


def dry_run() -> int:
    """Compose every command the checks run (each pipeline step as the pipeline would) and
    collect the gpu tests: what can be checked without a GPU."""
    from omegaconf import OmegaConf

    from cycle.core.config import compose_stage

    planned = [("build_data", ["experiment=smol", *COMMON]), ("train_reviewer", ZERO2 + COMMON)]
    pipeline = compose_stage("pipeline", ["experiment=smol", *COMMON])
    for step in pipeline.steps.values():
        overrides = OmegaConf.to_container(step.overrides, resolve=True)
        planned.append((step.stage, ["experiment=smol", *COMMON, *overrides]))
    for stage, overrides in planned:
        cfg = compose_stage(stage, overrides)
        OmegaConf.to_container(cfg, resolve=True)
        model = cfg.get("model", {})
        print(f"composes: cycle {stage} {' '.join(overrides)} (model {model.get('name')})")
    collect = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-m",
            "gpu",
            "-p",
            "no:cacheprovider",
        ],
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
    out = Path(os.environ.get("OUT") or ROOT / ".device" / "out")
    (out / "logs").mkdir(parents=True, exist_ok=True)
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
        for check in checks():
            run_check(check, memory, out / "logs")
            done.append(check)
            (out / "device_report.md").write_text(report(done, device))  # kept if cut short
    finally:
        memory.stop()
    pipeline_report = WORK / "runs" / "pipeline" / "smol" / "report.md"
    if pipeline_report.is_file():
        shutil.copy(pipeline_report, out / "pipeline_report.md")
    print(report(done, device))
    return max((c.rc or 0) != 0 for c in done)


if __name__ == "__main__":
    sys.exit(main())
