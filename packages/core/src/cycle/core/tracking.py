"""Experiment tracking: a Lightning logger from a ``LoggerConfig`` (W&B offline by default, or CSV)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from cycle.core.schemas import LoggerConfig, StageConfig


def build_logger(
    cfg: LoggerConfig, save_dir: str | Path, config: dict[str, Any] | None = None
) -> Any:
    """W&B runs are offline unless ``mode=online``; ``config`` is stored as the run's config."""
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    if cfg.name == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(save_dir), name="csv", version="")
    if cfg.name != "wandb":
        raise ValueError(f"unknown logger '{cfg.name}' (wandb, csv)")
    if cfg.mode not in ("offline", "online", "disabled"):
        raise ValueError(f"logger.mode must be offline, online or disabled, got '{cfg.mode}'")
    from lightning.pytorch.loggers import WandbLogger

    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(
        project=cfg.project,
        entity=cfg.entity,
        group=cfg.group,
        job_type=cfg.job_type,
        name=cfg.run_name,
        tags=list(cfg.tags),
        save_dir=str(save_dir),
        offline=cfg.mode != "online",
        mode=cfg.mode,
        config=config,
    )
    return logger


def stage_logger(cfg: StageConfig, save_dir: str | Path, **overrides: Any) -> Any:
    """The logger of a stage: ``cfg.logger`` with ``overrides`` of its fields, the stage's typed
    config stored as its run's config."""
    logger_cfg = dataclasses.replace(cfg.logger, **overrides)
    return build_logger(logger_cfg, save_dir, dataclasses.asdict(cfg))


def finish(logger: Any) -> None:
    """Write what a logger buffered (a CSV logger used outside a Trainer writes nothing until
    then) and close a W&B run so its offline files are complete."""
    if hasattr(logger, "finalize"):
        logger.finalize("success")
    experiment = getattr(logger, "experiment", None)
    if experiment is not None and hasattr(experiment, "finish"):
        experiment.finish()
