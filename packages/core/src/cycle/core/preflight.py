"""Checks a composed config passes before a stage loads any data or model.

Hydra's schemas check types and keys; the values that must be one of a few names (a PEFT
method, a Lightning precision) and the hardware a trainer preset needs are checked here, so a
typo or a GPU preset on a CPU machine fails at once with one line that names the fix.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

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


def check_choices(cfg: DictConfig) -> None:
    for key, allowed in CHOICES.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and str(value) not in allowed:
            raise ConfigError(f"{key}={value} is not one of: {', '.join(allowed)}")


def _group_choices() -> dict[str, Any]:
    from hydra.core.hydra_config import HydraConfig

    return dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}


def check_hardware(cfg: DictConfig) -> None:
    """A stage that trains under a GPU trainer preset needs a visible CUDA device."""
    if "trainer" not in _group_choices():  # the stage does not train (generate, build_data...)
        return
    accelerator = str(OmegaConf.select(cfg, "trainer.accelerator", default="cpu"))
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        name = OmegaConf.select(cfg, "trainer.name", default=accelerator)
        raise ConfigError(
            f"trainer {name} needs a CUDA GPU and none is visible here: "
            "run on a GPU node, or use trainer=cpu (trainer=ddp_cpu for 2 CPU processes)"
        )


def check_model(cfg: DictConfig) -> None:
    """An SFT stage's hub model must be in the local cache (no download at run time)."""
    if "trainer" not in _group_choices() or cfg.get("sft") is None:
        return
    if OmegaConf.select(cfg, "model.name_or_path") is None:  # the tiny model, built here
        return
    resolve_model_path(cfg.model)  # ModelNotAvailableError (a ConfigError) names `hf download`


def preflight(cfg: DictConfig) -> None:
    check_choices(cfg)
    check_hardware(cfg)
    check_model(cfg)
