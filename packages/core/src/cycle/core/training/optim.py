"""AdamW with warmup + cosine / linear / constant decay, from an ``OptimConfig``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from cycle.core.schemas import OptimConfig


def build_optimizer(
    params: Iterable[torch.nn.Parameter], cfg: OptimConfig
) -> torch.optim.Optimizer:
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters")
    return torch.optim.AdamW(
        trainable, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas), eps=cfg.eps
    )


def lr_factor(step: int, total_steps: int, cfg: OptimConfig) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based)."""
    warmup = int(cfg.warmup_ratio * total_steps)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.scheduler == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
    if cfg.scheduler == "linear":
        decay = 1.0 - progress
    elif cfg.scheduler == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown scheduler '{cfg.scheduler}' (cosine, linear, constant)")
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int) -> dict:
    """A Lightning ``lr_scheduler`` dict stepping every optimizer step."""
    sched = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, max(1, total_steps), cfg)
    )
    return {"scheduler": sched, "interval": "step", "frequency": 1}
