"""The ``reviewer`` config group's schema (conf/reviewer/*.yaml), registered via ``cycle.schemas``."""

from __future__ import annotations

from dataclasses import dataclass

from cycle.core.schemas import register

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


def register_configs() -> None:
    register("reviewer", ReviewerConfig)
