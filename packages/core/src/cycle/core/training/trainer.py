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


CHECKPOINT = "last"  # <checkpoint_dir>/last.ckpt (a folder of shards under DeepSpeed)


def last_checkpoint(checkpoint_dir: str | Path | None) -> Path | None:
    """The checkpoint a rerun resumes from, if a killed or failed run left one."""
    if checkpoint_dir is None:
        return None
    path = Path(checkpoint_dir) / f"{CHECKPOINT}.ckpt"
    return path if path.exists() else None


def checkpoint_callback(cfg: TrainerConfig, checkpoint_dir: str | Path) -> Any:
    """Keeps one checkpoint, overwritten every ``cfg.checkpoint_every_n_steps`` optimizer steps."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    return ModelCheckpoint(
        dirpath=str(checkpoint_dir),
        filename=CHECKPOINT,
        every_n_train_steps=cfg.checkpoint_every_n_steps,
        save_top_k=1,
        enable_version_counter=False,
    )


def finish_checkpoints(trainer: Any, checkpoint_dir: str | Path | None) -> None:
    """Remove the resume checkpoints once the trained model is exported (rank 0; at paper scale
    they hold the optimizer state, several times the model's size)."""
    import shutil

    if checkpoint_dir is not None and trainer.is_global_zero:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)


class EpochShuffle:
    """A sampler whose order is a function of (seed, epoch) alone: Lightning sets the epoch, so a
    resumed run draws the same order as an uninterrupted one, whatever else used the RNG."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Any:
        import torch

        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())


def resumable_loader(rows: Any, shuffle: bool, seed: int, **kwargs: Any) -> Any:
    """A DataLoader whose position (batches already yielded) is saved in Lightning checkpoints,
    so that a resumed epoch continues where the killed one stopped, in the same order."""
    from torchdata.stateful_dataloader import StatefulDataLoader

    sampler = EpochShuffle(len(rows), seed) if shuffle else None
    return StatefulDataLoader(rows, sampler=sampler, **kwargs)


def build_trainer(
    cfg: TrainerConfig,
    logger: Any = None,
    callbacks: list[Any] | None = None,
    default_root_dir: str | Path | None = None,
    checkpoint_dir: str | Path | None = None,
    **overrides: Any,
) -> Any:
    """A ``Trainer`` from ``cfg``; with ``checkpoint_dir`` and ``cfg.checkpoint_every_n_steps``
    it checkpoints there (``fit(..., ckpt_path=last_checkpoint(checkpoint_dir))`` resumes)."""
    import lightning as L

    callbacks = list(callbacks or [])
    checkpointing = bool(checkpoint_dir) and cfg.checkpoint_every_n_steps > 0
    if checkpointing:
        callbacks.append(checkpoint_callback(cfg, checkpoint_dir))
    kwargs: dict[str, Any] = dict(
        accelerator=cfg.accelerator,
        devices=cfg.devices,
        num_nodes=cfg.num_nodes,
        strategy=build_strategy(cfg),
        precision=cfg.precision,
        max_epochs=cfg.max_epochs,
        max_steps=cfg.max_steps,
        max_time=cfg.max_time,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val,
        log_every_n_steps=cfg.log_every_n_steps,
        enable_checkpointing=checkpointing,
        enable_progress_bar=cfg.enable_progress_bar,
        enable_model_summary=False,
        deterministic=cfg.deterministic,
        logger=logger if logger is not None else False,
        callbacks=callbacks,
        default_root_dir=str(default_root_dir) if default_root_dir else None,
    )
    if cfg.val_check_interval is not None:
        kwargs["val_check_interval"] = cfg.val_check_interval
    kwargs.update(overrides)
    return L.Trainer(**kwargs)
