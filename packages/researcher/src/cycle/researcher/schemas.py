"""Config schemas of the researcher's groups (registered through the ``cycle.schemas`` entry point)."""

from __future__ import annotations

from dataclasses import dataclass

from cycle.core.schemas import register


@dataclass
class ExperimentRunnerConfig:
    """``simulated``: the policy writes the results turn. ``command``: a program gets the setup
    JSON on stdin and prints the results JSON (run without a shell, under ``timeout_s``)."""

    name: str = "simulated"
    command: str | None = None
    timeout_s: float = 600.0
    cwd: str | None = None


def register_configs() -> None:
    register("experiment_runner", ExperimentRunnerConfig)
