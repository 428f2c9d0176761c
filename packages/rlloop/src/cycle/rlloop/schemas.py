"""Config schemas of the rlloop stages, registered in Hydra's ConfigStore via ``cycle.schemas``.

``simpo`` (conf/simpo/*.yaml) is the loss's own ``SimPOConfig``, so a typo in β/γ/λ fails at
composition. ``PreferenceTrainConfig`` is the ``train`` node of ``cycle simpo`` and
``cycle rlloop`` (how pairs become batches); the stages' own schemas follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cycle.core.schemas import (
    BackendConfig,
    GenerationConfig,
    ModelConfig,
    SamplingConfig,
    TrainingConfig,
    register,
    register_stage,
)
from cycle.researcher.schemas import ExperimentRunnerConfig
from cycle.reviewer.schemas import ReviewerConfig
from cycle.rlloop.loss import SimPOConfig


@dataclass
class PreferenceTrainConfig:
    """Batches of preference pairs.

    ``max_length`` counts prompt + completion tokens of one side; longer sequences lose tokens
    from the end (the paper: 18K for the 12B policy, 10K for 72B/123B). ``batch_size`` is pairs
    per micro-batch (2x as many sequences in the forward pass).
    """

    max_length: int = 2048
    batch_size: int = 1
    shuffle: bool = True
    num_workers: int = 0


@dataclass
class SimPOStageConfig(TrainingConfig):
    """``cycle simpo`` (conf/simpo.yaml): one SimPO + NLL fit on a preference dataset."""

    simpo: SimPOConfig = field(default_factory=SimPOConfig)
    pairs: str = "???"
    policy: str = "???"
    train: PreferenceTrainConfig = field(default_factory=PreferenceTrainConfig)
    export: bool = True


@dataclass
class PromptsConfig:
    """The rounds' prompt pool: round t samples slice t of ``slices`` disjoint seeded slices."""

    split: str = "train"
    max_prompts: int | None = 4
    slices: int = 2
    topic: str | None = None
    max_references: int | None = 2
    batch_size: int = 8


@dataclass
class ReviewStepConfig:
    """The reward model: its model / backend / sampling, or a ``generator`` `_target_` node."""

    model: ModelConfig = field(default_factory=ModelConfig)
    backend: BackendConfig = field(default_factory=BackendConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    generator: Any = None
    batch_size: int = 8
    keep_loaded: bool = False


@dataclass
class LoopTrainConfig(PreferenceTrainConfig):
    enabled: bool = True  # false: sample and score every round, never train (no RL)


@dataclass
class EvalConfig:
    """Each policy's evaluation on held-out prompts."""

    split: str = "test"
    max_prompts: int | None = 0
    papers_per_prompt: int = 1
    baseline: bool = True


@dataclass
class RLLoopConfig(TrainingConfig, GenerationConfig):
    """``cycle rlloop`` (conf/rlloop.yaml): the iterative SimPO + NLL loop."""

    experiment_runner: ExperimentRunnerConfig = field(default_factory=ExperimentRunnerConfig)
    reviewer: ReviewerConfig = field(default_factory=ReviewerConfig)
    simpo: SimPOConfig = field(default_factory=SimPOConfig)
    review: ReviewStepConfig = field(default_factory=ReviewStepConfig)
    research14k_dir: str = "???"
    policy: str = "???"
    rounds: int = 2
    prompts: PromptsConfig = field(default_factory=PromptsConfig)
    train: LoopTrainConfig = field(default_factory=LoopTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    keep_policy_loaded: bool = False
    isolate_steps: bool = False


def register_configs() -> None:
    register("simpo", SimPOConfig)
    register_stage("simpo", SimPOStageConfig)
    register_stage("rlloop", RLLoopConfig)
