"""Names of the detect stage's models, for its report."""

from __future__ import annotations

from cycle.core.schemas import ModelConfig

__all__ = ["model_name"]


def model_name(model: ModelConfig) -> str:
    return str(model.name_or_path or model.name)
