"""Typed views of the detect stage's config nodes."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["model_name", "structured"]


def structured(node: Any, cls: type) -> Any:
    """A dataclass from a config node, its interpolations resolved in the full config first."""
    data = (
        OmegaConf.to_container(node, resolve=True)
        if isinstance(node, DictConfig)
        else dict(node or {})
    )
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), data))


def model_name(model_cfg: Any) -> str:
    return str(model_cfg.get("name_or_path") or model_cfg.get("name"))
