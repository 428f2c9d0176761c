"""The ``reviewer`` config group's schema (conf/reviewer/*.yaml), registered via ``cycle.schemas``."""

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

REWARDS = ("mean", "min", "max")
PAPER_TRUNCATIONS = ("end", "middle")


@dataclass
class ReviewerConfig:
    """How the reviewer is prompted and how its reviews become a reward.

    ``paper_truncation`` cuts only the paper text (the user turn), never the system prompt or a
    training target: ``end`` keeps the paper's beginning and drops its end, ``middle`` keeps its
    beginning and end and drops the middle. Training and inference cut papers the same way.
    """

    num_reviews: int = 4  # reviews asked for in the system prompt at inference ({n})
    k: int = 1  # review sets sampled per paper; their rewards are averaged
    reward: str = "mean"  # mean | min | max rating of a review set (the paper uses the mean)
    paper_truncation: str = "end"  # end | middle
    # Prompt budget in tokens; null = model.context_length - sampling.max_new_tokens.
    max_prompt_tokens: int | None = None
    # The venue's [lowest, highest] rating named in the system prompt; null = 1-10, or the
    # scale of the Review-5K rows under evaluation (cycle evaluate_reviewer).
    rating_scale: list[float] | None = None


@dataclass
class ValidationConfig:
    """Papers held out of the reviewer's training and scored every ``every_n_steps`` steps."""

    papers: int = 0
    every_n_steps: int = 20


@dataclass
class TrainReviewerConfig(TrainingConfig):
    """``cycle train_reviewer`` (conf/train_reviewer.yaml)."""

    reviewer: ReviewerConfig = field(default_factory=ReviewerConfig)
    review5k_dir: str = "???"
    split: str = "train"
    max_examples: int | None = None
    min_paper_tokens: int = 64
    sft: SFTConfig = field(default_factory=SFTConfig)
    export: bool = True
    target: str = "document"  # document | short
    short_words: int = 30
    validation: ValidationConfig = field(default_factory=ValidationConfig)


@dataclass
class ReviewerEntry:
    """One reviewer scored by ``cycle evaluate_reviewer``: a label, and its changes to the stage's
    model / backend / sampling / reviewer nodes (or a ``generator`` node with a ``_target_``)."""

    label: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    backend: dict[str, Any] = field(default_factory=dict)
    sampling: dict[str, Any] = field(default_factory=dict)
    reviewer: dict[str, Any] = field(default_factory=dict)
    generator: Any = None


@dataclass
class EvaluateReviewerConfig(GenerationConfig):
    """``cycle evaluate_reviewer`` (conf/evaluate_reviewer.yaml)."""

    reviewer: ReviewerConfig = field(default_factory=ReviewerConfig)
    review5k_dir: str = "???"
    split: str = "test"
    max_papers: int | None = None
    human_accept_threshold: float | None = None
    proxy_n1: str = "expected"
    predictions: str | None = None
    predictions_label: str = "Predictions"
    gold: str | None = None
    reviewers: dict[str, ReviewerEntry] = field(default_factory=dict)


def register_configs() -> None:
    register("reviewer", ReviewerConfig)
    register_stage("train_reviewer", TrainReviewerConfig)
    register_stage("evaluate_reviewer", EvaluateReviewerConfig)
