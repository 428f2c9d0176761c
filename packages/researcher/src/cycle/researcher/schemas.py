"""Config schemas of the researcher's groups (registered through the ``cycle.schemas`` entry point)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cycle.core.schemas import register


@dataclass
class ExperimentRunnerConfig:
    """``simulated``: the policy writes the results turn. ``command``: a program gets the setup
    JSON on stdin and prints the results JSON (run without a shell, under ``timeout_s``, in a
    scratch directory, with an allow-listed environment and resource limits)."""

    name: str = "simulated"
    command: str | None = None
    timeout_s: float = 600.0
    scratch_root: str | None = None  # where each run's scratch directory is made; null: $TMPDIR
    keep_scratch: bool = False
    pass_env: list[str] = field(default_factory=list)  # variables passed beyond the allow-list
    max_cpu_s: int | None = 600
    max_memory_mb: int | None = 16384  # address space; null for CUDA programs
    max_output_mb: int | None = 64  # any file it writes, stdout and stderr included
    max_processes: int | None = 256  # alive at once (RLIMIT_NPROC and the runner's count)


def register_configs() -> None:
    register("experiment_runner", ExperimentRunnerConfig)
