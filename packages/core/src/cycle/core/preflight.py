"""Checks a composed config passes before a stage loads any data or model.

Hydra's schemas check types and keys; the values that must be one of a few names (a PEFT
method, a Lightning precision) and the hardware a trainer preset needs are checked here, so a
typo or a GPU preset on a CPU machine fails at once with one line that names the fix.
"""

from __future__ import annotations

from typing import Any

from cycle.core.errors import ConfigError
from cycle.core.models import resolve_model_path

# Lightning's precision names (lightning.fabric.plugins.precision.precision._PRECISION_INPUT).
PRECISIONS = (
    "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true",
    "transformer-engine", "transformer-engine-float16", "64", "32", "16", "bf16",
)  # fmt: skip
CHOICES: dict[str, tuple[str, ...]] = {
    "peft.method": ("none", "lora", "lora_ga"),
    "trainer.precision": PRECISIONS,
    "optim.scheduler": ("cosine", "linear", "constant"),
    "logger.name": ("wandb", "csv"),
    "logger.mode": ("offline", "online", "disabled"),
}


def _select(cfg: Any, key: str) -> Any:
    """``cfg``'s value at a dotted path, or None where the stage has no such node."""
    for part in key.split("."):
        cfg = getattr(cfg, part, None)
    return cfg


def check_choices(cfg: Any) -> None:
    for key, allowed in CHOICES.items():
        value = _select(cfg, key)
        if value is not None and str(value) not in allowed:
            raise ConfigError(f"{key}={value} is not one of: {', '.join(allowed)}")


def check_hardware(cfg: Any) -> None:
    """A stage that trains under a GPU trainer preset needs a visible CUDA device."""
    trainer = getattr(cfg, "trainer", None)
    if trainer is None or trainer.accelerator not in ("gpu", "cuda"):
        return  # the stage does not train (generate, build_data...), or trains on the CPU
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"trainer {trainer.name} needs a CUDA GPU and none is visible here: "
            "run on a GPU node, or use trainer=cpu (trainer=ddp_cpu for 2 CPU processes)"
        )


def check_model(cfg: Any) -> None:
    """An SFT stage's hub model must be in the local cache (no download at run time)."""
    if getattr(cfg, "trainer", None) is None or getattr(cfg, "sft", None) is None:
        return
    if cfg.model.name_or_path is None:  # the tiny model, built here
        return
    resolve_model_path(cfg.model)  # ModelNotAvailableError (a ConfigError) names `hf download`


def preflight(cfg: Any) -> None:
    """``cfg``: a stage's typed config."""
    check_choices(cfg)
    check_hardware(cfg)
    check_model(cfg)
