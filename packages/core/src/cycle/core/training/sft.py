"""Supervised fine-tuning of a causal LM on chat conversations, loss on assistant tokens only.

The reviewer and researcher SFT stages prepare conversations and call ``fit_sft``; the model,
PEFT method, trainer preset, optimizer and logger all come from the stage config.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
from omegaconf import DictConfig, OmegaConf

from cycle.core.chat import Message, tokenize_chat
from cycle.core.config import to_dataclass
from cycle.core.io import atomic_write_jsonl
from cycle.core.models import as_model_config, load_causal_lm, load_tokenizer
from cycle.core.runs import Run
from cycle.core.schemas import LoggerConfig, OptimConfig, PeftConfig, TrainerConfig
from cycle.core.training.export import export_hf
from cycle.core.training.lm_module import CausalLMModule
from cycle.core.training.peft import apply_peft
from cycle.core.training.sequences import labels_from_mask, pack_rows, pad_batch, truncate
from cycle.core.training.trainer import (
    build_trainer,
    finish_checkpoints,
    last_checkpoint,
    resumable_loader,
)


@dataclass
class SFTConfig:
    max_length: int = 2048
    truncation: str = "end"  # end | start | random | middle (see sequences.truncate)
    packing: bool = False  # concatenate examples up to max_length (see sequences.pack_rows)
    batch_size: int = 1
    shuffle: bool = True
    num_workers: int = 0


def encode_conversations(
    tokenizer: Any,
    conversations: Iterable[Sequence[Message]],
    max_length: int,
    truncation: str,
    seed: int = 0,
) -> tuple[list[dict[str, list[int]]], list[dict[str, Any]]]:
    """Tokenize conversations to ``input_ids``/``labels``; rows with no target left are rejected."""
    rng = random.Random(seed)
    rows, rejected = [], []
    for i, messages in enumerate(conversations):
        ids, mask = tokenize_chat(tokenizer, messages)
        ids, labels = truncate(ids, labels_from_mask(ids, mask), max_length, truncation, rng)
        if all(x == -100 for x in labels):
            rejected.append({"index": i, "reason": "no assistant tokens after truncation"})
            continue
        rows.append({"input_ids": ids, "labels": labels})
    return rows, rejected


class LossHistory(L.Callback):
    """Keeps the training loss of every step (for reports and tests)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(
        self, trainer: Any, module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        self.losses.append(float(loss.detach()))


def trainable_parameters(model: Any) -> int:
    """Trainable parameter count (``ds_numel``: a ZeRO-3 shard's full size)."""
    return sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters() if p.requires_grad)


def fit_sft(
    cfg: DictConfig,
    run: Run,
    conversations: Sequence[Sequence[Message]],
    sft: SFTConfig,
    export_dir: str | Path | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> dict[str, Any]:
    """Train ``cfg.model`` on conversations under ``cfg.trainer``; export to ``export_dir``.

    ``callbacks``: more Lightning callbacks (e.g. a validation curve) for the trainer."""
    from cycle.core.tracking import build_logger, finish

    model_cfg = as_model_config(cfg.model)
    tokenizer = load_tokenizer(model_cfg)
    rows, rejected = encode_conversations(
        tokenizer, conversations, sft.max_length, sft.truncation, int(cfg.seed)
    )
    if rejected:  # listed with their index and reason, never dropped silently
        atomic_write_jsonl(run.path("sft_rejected.jsonl"), rejected)
        run.add_artifact("sft_rejected", run.path("sft_rejected.jsonl"))
        for reason in {r["reason"] for r in rejected}:
            run.log_rejected(reason, sum(r["reason"] == reason for r in rejected))
    if not rows:
        raise ValueError("no trainable conversations (all rejected)")
    examples = len(rows)
    if sft.packing:
        rows = pack_rows(rows, sft.max_length)

    def loader(shuffle: bool) -> Any:
        return resumable_loader(
            rows,
            shuffle,
            int(cfg.seed),
            batch_size=sft.batch_size,
            num_workers=sft.num_workers,
            collate_fn=lambda b: pad_batch(b, tokenizer.pad_token_id),
        )

    peft_cfg = to_dataclass(cfg.peft, PeftConfig) if "peft" in cfg else PeftConfig()

    def ga_batches() -> Iterable[dict[str, Any]]:
        """LoRA-GA's gradient estimate: the first ``ga_batches`` training batches, in order."""
        return itertools.islice(loader(shuffle=False), peft_cfg.ga_batches)

    def build_model() -> Any:
        """Run by the strategy (CausalLMModule.configure_model): sharded under ZeRO-3."""
        return apply_peft(
            load_causal_lm(model_cfg, with_tokenizer=False),
            peft_cfg,
            ga_batches,
            ga_cache_file=run.path("lora_ga_gradients.pt"),
            seed=int(cfg.seed),
        )

    # LoRA-GA's init rewrites whole base weights, which ZeRO-3 would already have sharded: its
    # model is built here, before the strategy (a host copy per rank), the others by the strategy.
    eager = peft_cfg.method == "lora_ga"
    module = CausalLMModule(
        build_model() if eager else build_model, to_dataclass(cfg.optim, OptimConfig)
    )
    logger = build_logger(
        to_dataclass(cfg.logger, LoggerConfig), run.dir, OmegaConf.to_container(cfg, resolve=True)
    )
    history = LossHistory()
    checkpoints = run.dir / "checkpoints"
    trainer = build_trainer(
        to_dataclass(cfg.trainer, TrainerConfig),
        logger=logger,
        callbacks=[history, *callbacks],
        default_root_dir=run.dir,
        checkpoint_dir=checkpoints,
    )
    resume = last_checkpoint(checkpoints)
    trainer.fit(module, train_dataloaders=loader(shuffle=sft.shuffle), ckpt_path=resume)
    finish(logger)
    metrics = {
        "train_examples": examples,
        "train_rows": len(rows),
        "rejected_examples": len(rejected),
        "steps": trainer.global_step,
        "resumed_from_step": module.start_step,
        "loss_first": history.losses[0] if history.losses else float("nan"),
        "loss_last": history.losses[-1] if history.losses else float("nan"),
        "trainable_params": trainable_parameters(module.model),
    }
    if export_dir is not None:
        export_hf(module.model, tokenizer, export_dir, write=trainer.is_global_zero)
        run.add_artifact("model", export_dir)
        finish_checkpoints(trainer, checkpoints)
    run.log_metrics(metrics)
    return metrics
