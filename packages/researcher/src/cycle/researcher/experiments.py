"""The experiment seam between the two assistant turns.

- ``simulated``: the policy writes the results turn itself (the paper is then labelled as having
  simulated results). The ``Researcher`` does this with its own generator; this runner only
  says so.
- ``command``: a user program receives the experimental setup JSON on stdin and prints the
  results JSON on stdout. It runs as a subprocess (argument list, no shell); model text is never
  evaluated. A timeout, a non-zero exit, a resource limit or invalid JSON is reported for that
  paper and the run goes on.

The setup is model-written, so the program may be steered into running anything it can be made
to run. Each run therefore gets a fresh scratch directory as its working directory, ``HOME`` and
``TMPDIR``; an allow-listed environment (no tokens: W&B, Hugging Face, OpenReview and Semantic
Scholar credentials never reach it); its own process group, killed whole on timeout or exit;
and CPU-time, memory and file-size limits (stdout and stderr are files in the scratch
directory, so the output limit covers them). This contains mistakes, not an attacker: the
program still sees the file system and the network. Untrusted generated code belongs in a
container (see conf/experiment_runner/command.yaml).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Passed through when set; everything else is dropped unless ``pass_env`` names it.
ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES")
MB = 1 << 20


@dataclass
class ExperimentOutcome:
    """Results of one paper's experiments: decoded ``results`` or an ``error``."""

    results: Any = None
    error: str | None = None
    stderr: str = ""


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits (None: no limit). ``memory_mb`` is address space (RLIMIT_AS):
    CUDA programs map far more than they use and need None."""

    cpu_s: int | None = 600
    memory_mb: int | None = 16384
    output_mb: int | None = 64

    def preexec(self) -> Callable[[], None]:
        """Applied in the child before exec."""

        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if self.cpu_s is not None:  # SIGXCPU at the soft limit, SIGKILL 5 s later
                resource.setrlimit(resource.RLIMIT_CPU, (self.cpu_s, self.cpu_s + 5))
            for kind, value in (
                (resource.RLIMIT_AS, self.memory_mb and self.memory_mb * MB),
                (resource.RLIMIT_FSIZE, self.output_mb and self.output_mb * MB),
            ):
                if value is not None:
                    resource.setrlimit(kind, (value, value))

        return apply


DEFAULT_LIMITS = Limits()


class SimulatedRunner:
    """Marker runner: the model writes the results (``Researcher`` generates them)."""

    simulated = True

    def describe(self) -> str:
        return "simulated (results written by the model)"


def contained_env(scratch: Path, pass_env: Sequence[str] = ()) -> dict[str, str]:
    """The allow-listed environment of a run, with ``HOME`` and ``TMPDIR`` in its scratch dir."""
    env = {k: os.environ[k] for k in (*ALLOWED_ENV, *pass_env) if k in os.environ}
    env.setdefault("PATH", os.defpath)
    return {**env, "HOME": str(scratch), "TMPDIR": str(scratch)}


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


_SIGNAL_REASONS = {
    signal.SIGXCPU: "over the CPU-time limit (experiment_runner.max_cpu_s)",
    signal.SIGXFSZ: "over the output limit (experiment_runner.max_output_mb)",
    signal.SIGKILL: "killed (past the CPU-time limit, or out of memory)",
}


class CommandRunner:
    """Runs ``command`` once per paper: setup JSON on stdin, results JSON on stdout."""

    simulated = False

    def __init__(
        self,
        command: str | Sequence[str],
        timeout_s: float = 600.0,
        scratch_root: str | None = None,
        pass_env: Sequence[str] = (),
        limits: Limits = DEFAULT_LIMITS,
        keep_scratch: bool = False,
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ValueError("experiment_runner.command is empty")
        self.timeout_s = timeout_s
        self.scratch_root = scratch_root
        self.pass_env = list(pass_env)
        self.limits = limits
        self.keep_scratch = keep_scratch

    def describe(self) -> str:
        return f"command {shlex.join(self.argv)!r} (timeout {self.timeout_s:g} s, {self.limits})"

    def run(self, setup: Any) -> ExperimentOutcome:
        if self.scratch_root:
            Path(self.scratch_root).mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix="experiment-", dir=self.scratch_root))
        try:
            return self._run_in(scratch, setup)
        finally:
            if not self.keep_scratch:
                shutil.rmtree(scratch, ignore_errors=True)

    def _run_in(self, scratch: Path, setup: Any) -> ExperimentOutcome:
        name = shlex.join(self.argv)
        (scratch / "setup.json").write_text(json.dumps(setup, ensure_ascii=False), "utf-8")
        with (
            open(scratch / "setup.json", "rb") as stdin,
            open(scratch / "stdout.txt", "wb") as stdout,
            open(scratch / "stderr.txt", "wb") as stderr,
        ):
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=scratch,
                    env=contained_env(scratch, self.pass_env),
                    start_new_session=True,  # its own process group: killed whole below
                    preexec_fn=self.limits.preexec(),
                )
            except OSError as err:
                return ExperimentOutcome(
                    error=f"experiment command {name!r} could not start: {err}"
                )
            try:
                code = proc.wait(timeout=self.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
            _kill_group(proc)  # on timeout, and any background process left after an exit
            if timed_out:
                proc.wait()
        err_text = _read_capped(scratch / "stderr.txt")
        if timed_out:
            return ExperimentOutcome(
                error=f"experiment command {name!r} timed out after {self.timeout_s:g} s",
                stderr=err_text,
            )
        if code != 0:
            if code < 0:
                sig = signal.Signals(-code)
                why = f"was stopped by {sig.name}: {_SIGNAL_REASONS.get(sig, 'signal')}"
            else:
                tail = err_text.strip().splitlines()[-1:] or [""]
                why = f"exited with status {code}: {tail[0][:300]}"
            return ExperimentOutcome(error=f"experiment command {name!r} {why}", stderr=err_text)
        out = _read_capped(scratch / "stdout.txt")
        try:
            results = json.loads(out)
        except json.JSONDecodeError as err:
            return ExperimentOutcome(
                error=(
                    f"experiment command {name!r} printed invalid JSON ({err.msg} at line {err.lineno} "
                    f"column {err.colno}): {out[:200]!r}"
                ),
                stderr=err_text,
            )
        return ExperimentOutcome(results=results, stderr=err_text)


def _read_capped(path: Path, limit: int = 64 * MB) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", errors="replace")


ExperimentRunner = SimulatedRunner | CommandRunner


def build_runner(cfg: Any) -> ExperimentRunner:
    """From an ``experiment_runner`` config node (or dict): ``simulated`` or ``command``."""
    from omegaconf import OmegaConf

    from cycle.core.config import to_dataclass
    from cycle.researcher.schemas import ExperimentRunnerConfig

    node = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    conf = to_dataclass(node, ExperimentRunnerConfig)
    if conf.name == "simulated":
        return SimulatedRunner()
    if conf.name == "command":
        if not conf.command:
            raise ValueError("experiment_runner=command needs experiment_runner.command=<program>")
        return CommandRunner(
            conf.command,
            float(conf.timeout_s),
            scratch_root=conf.scratch_root,
            pass_env=conf.pass_env,
            limits=Limits(conf.max_cpu_s, conf.max_memory_mb, conf.max_output_mb),
            keep_scratch=conf.keep_scratch,
        )
    raise ValueError(f"unknown experiment runner {conf.name!r} (simulated | command)")
