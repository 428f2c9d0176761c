"""Config schemas of the rlloop stages, registered in Hydra's ConfigStore via ``cycle.schemas``.

``simpo`` (conf/simpo/*.yaml) is the loss's own ``SimPOConfig``, so a typo in β/γ/λ fails at
composition. ``PreferenceTrainConfig`` is the ``train`` node of ``cycle simpo`` and
``cycle rlloop`` (how pairs become batches).
"""

from __future__ import annotations

from dataclasses import dataclass

from cycle.core.schemas import register
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


def register_configs() -> None:
    register("simpo", SimPOConfig)
