"""The experiment seam between the two assistant turns.

- ``simulated``: the policy writes the results turn itself (the paper is then labelled as having
  simulated results). The ``Researcher`` does this with its own generator; this runner only
  says so.
- ``command``: a user program receives the experimental setup JSON on stdin and prints the
  results JSON on stdout. It runs as a subprocess (argument list, no shell) under a time limit;
  model text is never evaluated. A timeout, a non-zero exit or invalid JSON is reported for that
  paper and the run goes on.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class ExperimentOutcome:
    """Results of one paper's experiments: decoded ``results`` or an ``error``."""

    results: Any = None
    error: str | None = None
    stderr: str = ""


class SimulatedRunner:
    """Marker runner: the model writes the results (``Researcher`` generates them)."""

    simulated = True

    def describe(self) -> str:
        return "simulated (results written by the model)"


class CommandRunner:
    """Runs ``command`` once per paper: setup JSON on stdin, results JSON on stdout."""

    simulated = False

    def __init__(
        self,
        command: str | Sequence[str],
        timeout_s: float = 600.0,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ValueError("experiment_runner.command is empty")
        self.timeout_s = timeout_s
        self.cwd = cwd
        self.env = env

    def describe(self) -> str:
        return f"command {shlex.join(self.argv)!r} (timeout {self.timeout_s:g} s)"

    def run(self, setup: Any) -> ExperimentOutcome:
        name = shlex.join(self.argv)
        try:
            proc = subprocess.run(
                self.argv,
                input=json.dumps(setup, ensure_ascii=False),
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                cwd=self.cwd,
                env=self.env,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            stderr = (
                err.stderr.decode(errors="replace")
                if isinstance(err.stderr, bytes)
                else err.stderr or ""
            )
            return ExperimentOutcome(
                error=f"experiment command {name!r} timed out after {self.timeout_s:g} s",
                stderr=stderr,
            )
        except OSError as err:
            return ExperimentOutcome(error=f"experiment command {name!r} could not start: {err}")
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-1:] or [""]
            return ExperimentOutcome(
                error=f"experiment command {name!r} exited with status {proc.returncode}: {tail[0][:300]}",
                stderr=proc.stderr,
            )
        try:
            results = json.loads(proc.stdout)
        except json.JSONDecodeError as err:
            return ExperimentOutcome(
                error=(
                    f"experiment command {name!r} printed invalid JSON ({err.msg} at line {err.lineno} "
                    f"column {err.colno}): {proc.stdout[:200]!r}"
                ),
                stderr=proc.stderr,
            )
        return ExperimentOutcome(results=results, stderr=proc.stderr)


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
        return CommandRunner(conf.command, float(conf.timeout_s), conf.cwd)
    raise ValueError(f"unknown experiment runner {conf.name!r} (simulated | command)")
