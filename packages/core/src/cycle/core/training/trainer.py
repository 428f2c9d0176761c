"""Lightning ``Trainer`` presets from a ``TrainerConfig`` (CPU, GPU, DeepSpeed ZeRO-2/3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cycle.core.schemas import DeepSpeedConfig, TrainerConfig


def build_strategy(cfg: TrainerConfig) -> Any:
    """``DeepSpeedStrategy`` when ``cfg.deepspeed`` is set, else the named strategy string.

    Gradient accumulation and clipping are taken from the Trainer by Lightning (setting them in
    the DeepSpeed config is an error), bf16 from ``precision``.
    """
    if cfg.deepspeed is None:
        return cfg.strategy
    from lightning.pytorch.strategies import DeepSpeedStrategy

    ds = (
        cfg.deepspeed
        if isinstance(cfg.deepspeed, DeepSpeedConfig)
        else DeepSpeedConfig(**cfg.deepspeed)
    )
    return DeepSpeedStrategy(
        stage=ds.stage,
        offload_optimizer=ds.offload_optimizer,
        offload_parameters=ds.offload_parameters,
        allgather_bucket_size=int(ds.allgather_bucket_size),
        reduce_bucket_size=int(ds.reduce_bucket_size),
        overlap_comm=ds.overlap_comm,
        contiguous_gradients=ds.contiguous_gradients,
    )


def build_trainer(
    cfg: TrainerConfig,
    logger: Any = None,
    callbacks: list[Any] | None = None,
    default_root_dir: str | Path | None = None,
    **overrides: Any,
) -> Any:
    import lightning as L

    kwargs: dict[str, Any] = dict(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=build_strategy(cfg),
        precision=cfg.precision,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val,
        log_every_n_steps=cfg.log_every_n_steps,
        enable_checkpointing=cfg.enable_checkpointing,
        enable_progress_bar=cfg.enable_progress_bar,
        enable_model_summary=False,
        deterministic=cfg.deterministic,
        logger=logger if logger is not None else False,
        callbacks=callbacks or [],
        default_root_dir=str(default_root_dir) if default_root_dir else None,
    )
    if cfg.val_check_interval is not None:
        kwargs["val_check_interval"] = cfg.val_check_interval
    kwargs.update(overrides)
    return L.Trainer(**kwargs)
