"""Config schemas of the researcher's groups (registered through the ``cycle.schemas`` entry point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cycle.core.schemas import (
    GenerationConfig,
    SFTConfig,
    TrainingConfig,
    register,
    register_stage,
)


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


@dataclass
class TrainResearcherConfig(TrainingConfig):
    """``cycle train_researcher`` (conf/train_researcher.yaml)."""

    research14k_dir: str = "???"
    split: str = "train"
    max_examples: int | None = None
    max_references: int | None = 2
    sft: SFTConfig = field(default_factory=SFTConfig)
    export: bool = True


@dataclass
class GenerateConfig(GenerationConfig):
    """``cycle generate`` (conf/generate.yaml)."""

    experiment_runner: ExperimentRunnerConfig = field(default_factory=ExperimentRunnerConfig)
    research14k_dir: str = "???"
    split: str = "test"
    max_prompts: int | None = None
    topic: str | None = None
    outline_attempts: int = 4
    max_references: int | None = 2
    policy: str | None = None
    prompt_batch_size: int = 8
    scorer: Any = None  # a `_target_` node: a callable scoring papers (best of N)
    reviews_file: str | None = None
    system_name: str = "CycleResearcher"


def register_configs() -> None:
    register("experiment_runner", ExperimentRunnerConfig)
    register_stage("train_researcher", TrainResearcherConfig)
    register_stage("generate", GenerateConfig)
