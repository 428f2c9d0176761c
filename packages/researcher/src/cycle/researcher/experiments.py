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
Scholar credentials never reach it); its own session; per-process limits (CPU time, address
space, file size: stdout and stderr are files in the scratch directory, so the output limit
covers them; ``RLIMIT_NPROC`` for the process count). On Linux every process it starts, daemons
included, is tracked, its CPU time, memory and process count are summed against the same limits,
and all are killed when it exits or breaks one (containment.py). This contains mistakes, not an
attacker: the program still sees the file system and the network. Untrusted generated code
belongs in a container (see conf/experiment_runner/command.yaml).
"""

from __future__ import annotations

import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cycle.researcher.containment import LINUX, POLL_S, ProcessTree, Usage, user_task_count
from cycle.researcher.schemas import ExperimentRunnerConfig

# Passed through when set; everything else is dropped unless ``pass_env`` names it.
ALLOWED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "CUDA_VISIBLE_DEVICES")
MB = 1 << 20
MAX_DEPTH = 32  # results are a list of {"name", "result": {"table": [[...]]}}: 5 levels


@dataclass
class ExperimentOutcome:
    """Results of one paper's experiments: decoded ``results`` or an ``error``."""

    results: Any = None
    error: str | None = None
    stderr: str = ""


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits (None: no limit). ``memory_mb`` is address space (RLIMIT_AS) per
    process and resident memory summed over the program's processes: CUDA programs map far
    more than they use and need None. ``cpu_s`` holds per process and summed; ``max_processes``
    bounds the processes alive at once (see ``preexec`` for what the kernel enforces)."""

    cpu_s: int | None = 600
    memory_mb: int | None = 16384
    output_mb: int | None = 64
    max_processes: int | None = 256

    def preexec(self) -> Callable[[], None]:
        """Applied in the child before exec. ``RLIMIT_NPROC`` counts every thread of the real
        user, not of this program, so it is set to the user's count now plus ``max_processes``;
        the kernel does not apply it to root (or ``CAP_SYS_RESOURCE``), where only the runner's
        count (every ``POLL_S``) stops a fork bomb."""
        nproc = self.max_processes and user_task_count() + self.max_processes

        def apply() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            if nproc is not None:
                hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
                cap = nproc if hard == resource.RLIM_INFINITY else min(nproc, hard)
                resource.setrlimit(resource.RLIMIT_NPROC, (cap, cap))
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


_SIGNAL_REASONS: dict[int, str] = {
    signal.SIGXCPU: "over the CPU-time limit (experiment_runner.max_cpu_s)",
    signal.SIGXFSZ: "over the output limit (experiment_runner.max_output_mb)",
    signal.SIGKILL: "killed (past the CPU-time limit, or out of memory)",
}


def signal_name(number: int) -> str:
    """``SIGKILL``; real-time signals, which ``signal.Signals`` does not list, as ``SIGRTMIN+n``."""
    try:
        return signal.Signals(number).name
    except ValueError:
        low, high = getattr(signal, "SIGRTMIN", 0), getattr(signal, "SIGRTMAX", 0)  # Linux's
        return f"SIGRTMIN+{number - low}" if low < number < high else f"signal {number}"


def over_limit(usage: Usage, limits: Limits) -> str | None:
    """Why the program's processes together broke a limit, or None."""
    if limits.max_processes is not None and usage.processes > limits.max_processes:
        return f"over the process limit of {limits.max_processes} (experiment_runner.max_processes)"
    if limits.cpu_s is not None and usage.cpu_s > limits.cpu_s:
        return "over the CPU-time limit, all its processes together (experiment_runner.max_cpu_s)"
    if limits.memory_mb is not None and usage.rss_bytes > limits.memory_mb * MB:
        return "over the memory limit, all its processes together (experiment_runner.max_memory_mb)"
    return None


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
            ProcessTree() as tree,
        ):
            try:
                proc = subprocess.Popen(
                    self.argv,
                    stdin=stdin,
                    stdout=stdout,
                    stderr=stderr,
                    cwd=scratch,
                    env=contained_env(scratch, self.pass_env),
                    start_new_session=True,  # no terminal signals; killed with its tree
                    preexec_fn=self.limits.preexec(),
                )
            except OSError as err:
                return ExperimentOutcome(
                    error=f"experiment command {name!r} could not start: {err}"
                )
            stopped = self._watch(proc, tree)
            if stopped is not None:
                proc.kill()
            tree.kill_all(spare=proc.pid)  # what it left running after exiting too
            code = proc.wait()
        err_text = _read_capped(scratch / "stderr.txt")
        if stopped is not None:
            return ExperimentOutcome(
                error=f"experiment command {name!r} was stopped: {stopped}", stderr=err_text
            )
        if code != 0:
            if code < 0:
                sig = signal_name(-code)
                reason = _SIGNAL_REASONS.get(-code, "signal")
                why = f"was stopped by {sig}: {reason}"
            else:
                tail = err_text.strip().splitlines()[-1:] or [""]
                why = f"exited with status {code}: {tail[0][:300]}"
            return ExperimentOutcome(error=f"experiment command {name!r} {why}", stderr=err_text)
        out = _read_capped(scratch / "stdout.txt")
        try:
            results = json.loads(out)
        except (ValueError, RecursionError) as err:  # too deep, or an integer over the digit limit
            where = (
                f"{err.msg} at line {err.lineno} column {err.colno}"
                if isinstance(err, json.JSONDecodeError)
                else f"{type(err).__name__}: {str(err)[:120]}"
            )
            return ExperimentOutcome(
                error=f"experiment command {name!r} printed invalid JSON ({where}): {out[:200]!r}",
                stderr=err_text,
            )
        if _depth(results) > MAX_DEPTH:  # the paper's row and exports recurse over it
            return ExperimentOutcome(
                error=f"experiment command {name!r} printed JSON nested deeper than {MAX_DEPTH} "
                "levels",
                stderr=err_text,
            )
        return ExperimentOutcome(results=results, stderr=err_text)

    def _watch(self, proc: subprocess.Popen, tree: ProcessTree) -> str | None:
        """Wait for the program; why it must be stopped (timeout, a limit its processes broke
        together), or None once it exited by itself."""
        end = time.monotonic() + self.timeout_s
        while proc.poll() is None:
            if time.monotonic() >= end:
                return f"timed out after {self.timeout_s:g} s"
            if LINUX and (why := over_limit(tree.usage(), self.limits)):
                return why
            time.sleep(POLL_S)
        return None


def _depth(value: Any) -> int:
    """How deeply lists and dicts nest in decoded JSON (without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level)
            stack.extend(
                (v, level + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def _read_capped(path: Path, limit: int = 64 * MB) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", errors="replace")


ExperimentRunner = SimulatedRunner | CommandRunner


def build_runner(conf: ExperimentRunnerConfig) -> ExperimentRunner:
    """From the ``experiment_runner`` config: ``simulated`` or ``command``."""
    if conf.name == "simulated":
        return SimulatedRunner()
    if conf.name == "command":
        if not conf.command:
            raise ValueError("experiment_runner=command needs experiment_runner.command=<program>")
        return CommandRunner(
            conf.command,
            conf.timeout_s,
            scratch_root=conf.scratch_root,
            pass_env=conf.pass_env,
            limits=Limits(
                conf.max_cpu_s, conf.max_memory_mb, conf.max_output_mb, conf.max_processes
            ),
            keep_scratch=conf.keep_scratch,
        )
    raise ValueError(f"unknown experiment runner {conf.name!r} (simulated | command)")
