"""One training fit of a causal-LM module under a trainer preset: what SFT and SimPO share.

``fit`` builds the model with its PEFT adapters (by the strategy, or before it for LoRA-GA),
the trainer with its resume checkpoints, resumes from the last one, trains, and exports a
Hugging Face folder. The callers (``fit_sft``, ``fit_simpo``) encode their own rows, choose the
module, and report their own metrics.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from cycle.core.models import load_causal_lm
from cycle.core.schemas import ModelConfig, OptimConfig, PeftConfig, TrainerConfig, TrainingConfig
from cycle.core.training.export import export_hf
from cycle.core.training.lm_module import CausalLMModule
from cycle.core.training.peft import apply_peft
from cycle.core.training.trainer import (
    build_trainer,
    finish_checkpoints,
    last_checkpoint,
    resumable_loader,
)

Batch = dict[str, torch.Tensor]
ModelOrBuilder = torch.nn.Module | Callable[[], torch.nn.Module]
Module = TypeVar("Module", bound=CausalLMModule)


@dataclass
class FitSpec:
    """What a fit reads from the stage config."""

    model: ModelConfig
    peft: PeftConfig
    optim: OptimConfig
    trainer: TrainerConfig
    seed: int


def fit_spec(cfg: TrainingConfig, model: ModelConfig | None = None) -> FitSpec:
    """The fit settings of a training stage's config; ``model`` replaces ``cfg.model`` (e.g. a
    policy)."""
    return FitSpec(
        model=cfg.model if model is None else model,
        peft=cfg.peft,
        optim=cfg.optim,
        trainer=cfg.trainer,
        seed=cfg.seed,
    )


@dataclass
class Batches:
    """Training rows and how they are batched."""

    rows: Sequence[Any]
    collate: Callable[[list[Any]], Batch]
    batch_size: int = 1
    shuffle: bool = True
    num_workers: int = 0

    def loader(self, shuffle: bool, seed: int) -> Any:
        return resumable_loader(
            self.rows,
            shuffle,
            seed,
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=self.collate,
        )


def trainable_parameters(model: Any) -> int:
    """Trainable parameter count (``ds_numel``: a ZeRO-3 shard's full size)."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)


@dataclass
class Fitted(Generic[Module]):
    """The trained module, the exported folder (rank 0, when exported), and the training facts
    (counted before the export, which merges the adapters into the weights)."""

    module: Module
    exported: Path | None
    steps: int
    trainable_params: int

    def metrics(self, losses: Sequence[float]) -> dict[str, Any]:
        """The facts every fit reports; ``losses``: this fit's per-step training losses."""
        return {
            "steps": self.steps,
            "resumed_from_step": self.module.start_step,
            "loss_first": losses[0] if losses else float("nan"),
            "loss_last": losses[-1] if losses else float("nan"),
            "trainable_params": self.trainable_params,
        }


def fit(
    spec: FitSpec,
    make_module: Callable[[ModelOrBuilder, OptimConfig], Module],
    batches: Batches,
    tokenizer: Any,
    train_dir: str | Path,
    ga_view: Callable[[Batch], Batch] | None = None,
    logger: Any = None,
    callbacks: Iterable[Any] = (),
    export_dir: str | Path | None = None,
) -> Fitted[Module]:
    """Train ``make_module(model, spec.optim)`` on ``batches``; checkpoints in
    ``<train_dir>/checkpoints`` (a rerun resumes from them, an export removes them).

    LoRA-GA's gradient estimate reads the first ``peft.ga_batches`` training batches in order,
    each through ``ga_view`` (to an SFT batch with ``labels``) when given."""
    train_dir = Path(train_dir)
    seed = spec.seed

    def ga_batches() -> Iterable[Batch]:
        first = itertools.islice(batches.loader(False, seed), spec.peft.ga_batches)
        return first if ga_view is None else (ga_view(b) for b in first)

    def build_model() -> torch.nn.Module:
        """Run by the strategy (CausalLMModule.configure_model): sharded under ZeRO-3."""
        return apply_peft(
            load_causal_lm(spec.model, with_tokenizer=False),
            spec.peft,
            ga_batches,
            ga_cache_file=train_dir / "lora_ga_gradients.pt",
            seed=seed,
        )

    # LoRA-GA's init rewrites whole base weights, which ZeRO-3 would already have sharded: its
    # model is built here, before the strategy (a host copy per rank), the others by the strategy.
    eager = spec.peft.method == "lora_ga"
    module = make_module(build_model() if eager else build_model, spec.optim)
    checkpoints = train_dir / "checkpoints"
    trainer = build_trainer(
        spec.trainer,
        logger=logger,
        callbacks=list(callbacks),
        default_root_dir=train_dir,
        checkpoint_dir=checkpoints,
    )
    resume = last_checkpoint(checkpoints)
    trainer.fit(module, train_dataloaders=batches.loader(batches.shuffle, seed), ckpt_path=resume)
    trainable = trainable_parameters(module.model)
    exported = None
    if export_dir is not None:  # every rank: ZeRO-3 gathers the weights collectively
        exported = export_hf(module.model, tokenizer, export_dir, write=trainer.is_global_zero)
        finish_checkpoints(trainer, checkpoints)
    return Fitted(module, exported, trainer.global_step, trainable)
