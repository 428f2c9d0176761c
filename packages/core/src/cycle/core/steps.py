"""Resumable steps, run here or each in a process of its own.

A step is done when its marker exists: the JSON of its result, written atomically by rank 0
once the step has finished, so a rerun returns it instead of doing the step again. A step run
in a child process (``python -m <module> <args>``) starts with fresh memory and an environment
without SLURM's task variables: inside a one-task-per-node job (launcher=slurm) Lightning then
launches its own ranks instead of expecting ``srun`` to have started them. Used by ``cycle
rlloop`` (its per-round steps) and ``cycle pipeline`` (one ``cycle <stage>`` per step).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cycle.core.distributed import is_rank_zero
from cycle.core.io import atomic_write_json

log = logging.getLogger(__name__)


class StepFailed(RuntimeError):
    """A step's process exited with an error; the message names the step, its exit code and,
    when its output was logged, the log."""

    def __init__(self, step: str, code: int, log_path: Path | None = None) -> None:
        self.step, self.code, self.log_path = step, code, log_path
        see = f"; see {log_path}" if log_path is not None else ""
        super().__init__(f"{step} failed with exit code {code}{see}")


def read_marker(path: Path) -> dict[str, Any] | None:
    """A finished step's result, or None while it has not finished."""
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without SLURM's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env.update(extra or {})
    return env


def run_child(
    module: str,
    args: Sequence[str],
    *,
    step: str,
    announce: str,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """``python -m <module> <args>`` in a fresh process (``child_env(env)``), logged first as
    ``<announce>: <module> <args>``. Its output goes to this process's console, and also to
    ``log_path`` when given. Raises ``StepFailed`` naming ``step`` when it exits non-zero."""
    cmd = [sys.executable, "-m", module, *args]
    log.info("%s: %s", announce, " ".join(cmd[2:]))
    if log_path is None:
        code = subprocess.run(cmd, env=child_env(env), check=False).returncode
    else:
        with open(log_path, "w", encoding="utf-8") as sink:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env(env)
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sys.stderr.write(line)
            code = proc.wait()
    if code != 0:
        raise StepFailed(step, code, log_path)


def run_resumable(
    marker: Path,
    work: Callable[[], dict[str, Any]],
    child: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The step's result: its marker's content when the marker exists; otherwise ``child()``
    (the step in another process, which writes the marker) when given, else ``work()`` here,
    whose result rank 0 writes as the marker (the other ranks of a multi-process step only
    work)."""
    done = read_marker(marker)
    if done is None and child is not None:
        child()
        done = read_marker(marker)
    if done is not None:
        return done
    result = work()
    if is_rank_zero():
        atomic_write_json(marker, result)
    return result
