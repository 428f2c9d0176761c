"""SimPO + NLL training of a policy on a preference dataset, under any Lightning trainer preset.

``SimPOModule`` runs the chosen and rejected sequences of a batch in one forward pass
(``PreferenceCollator`` lays them out as ``[chosen; rejected]``), with completion log-probs
gathered in sequence chunks (``cycle.rlloop.logprobs``), and logs the loss, the NLL, the reward
margin, the chosen / rejected mean log-probs and the implicit-reward accuracy every step.
``fit_simpo`` loads a policy folder, drops pairs that cannot be trained on (with reasons),
trains, and exports the new policy as a Hugging Face folder.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
from datasets import Dataset
from omegaconf import DictConfig, OmegaConf, open_dict

from cycle.core.config import to_dataclass
from cycle.core.io import atomic_write_jsonl
from cycle.core.runs import Run
from cycle.core.schemas import OptimConfig
from cycle.core.training.lm_module import CausalLMModule
from cycle.rlloop.loss import SimPOConfig, simpo_nll_batch_loss
from cycle.rlloop.preference_data import PreferenceCollator, filter_trainable
from cycle.rlloop.schemas import PreferenceTrainConfig

# Per-step metrics of ``simpo_nll_loss`` that summarise an epoch (mean over steps).
SUMMARY_KEYS = (
    "loss",
    "simpo_loss",
    "nll",
    "rewards/margin",
    "rewards/accuracy",
    "logps/chosen",
    "logps/rejected",
)


class SimPOModule(CausalLMModule):
    """The causal-LM module (optimizer, scheduler, train mode) with the SimPO + NLL step."""

    def __init__(
        self,
        model: torch.nn.Module | Callable[[], torch.nn.Module],
        simpo: SimPOConfig,
        optim: OptimConfig,
    ) -> None:
        super().__init__(model, optim)
        self.simpo = simpo
        self.history: list[dict[str, float]] = []  # every step's metrics (this rank)

    def _step(self, batch: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
        loss, metrics = simpo_nll_batch_loss(self.model, batch, self.simpo)
        pairs = batch["input_ids"].shape[0] // 2
        self.log_dict(
            {f"{prefix}/{k}": v for k, v in metrics.items()},
            batch_size=pairs,
            prog_bar=False,
        )
        self.log(f"{prefix}/pair_loss", loss.detach(), prog_bar=True, batch_size=pairs)
        if prefix == "train":
            self.history.append({k: float(v) for k, v in metrics.items()})
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")


def _sft_view(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The chosen half of a pair batch as an SFT batch (labels on completion tokens): LoRA-GA's
    gradient estimate needs an ordinary LM loss."""
    half = batch["input_ids"].shape[0] // 2
    ids = batch["input_ids"][:half]
    labels = ids.masked_fill(batch["completion_mask"][:half] == 0, -100)
    return {"input_ids": ids, "attention_mask": batch["attention_mask"][:half], "labels": labels}


@dataclass
class SimPOResult:
    metrics: dict[str, Any]
    dropped: dict[str, str] = field(default_factory=dict)  # prompt_id -> reason
    exported: Path | None = None


def policy_model_config(cfg: DictConfig, policy: str | os.PathLike) -> DictConfig:
    """``cfg.model`` pointed at a policy folder (its weights and tokenizer)."""
    model = OmegaConf.create(OmegaConf.to_container(cfg.model, resolve=True))
    with open_dict(model):
        model.name_or_path = str(policy)
    return model


def fit_simpo(
    cfg: DictConfig,
    train_dir: str | os.PathLike,
    dataset: Dataset,
    policy: str | os.PathLike,
    export_dir: str | os.PathLike | None = None,
    logger: Any = None,
    callbacks: Iterable[Any] = (),
) -> SimPOResult:
    """Train ``policy`` on ``dataset`` with ``cfg.simpo`` / ``cfg.train`` / ``cfg.optim`` /
    ``cfg.trainer`` / ``cfg.peft``; export to ``export_dir`` (rank 0) when given.

    Pairs the collator cannot encode (no completion token left after truncation) are dropped and
    returned with their reason; at least one trainable pair is required.
    """
    import lightning as L

    from cycle.core.models import as_model_config, load_causal_lm, load_tokenizer
    from cycle.core.schemas import PeftConfig, TrainerConfig
    from cycle.core.training.export import export_hf
    from cycle.core.training.peft import apply_peft
    from cycle.core.training.sft import trainable_parameters
    from cycle.core.training.trainer import (
        build_trainer,
        finish_checkpoints,
        last_checkpoint,
        resumable_loader,
    )

    seed = int(cfg.seed)
    L.seed_everything(seed, workers=True, verbose=False)
    train_dir = Path(train_dir)
    simpo = to_dataclass(cfg.simpo, SimPOConfig)
    train = to_dataclass(cfg.train, PreferenceTrainConfig)
    model_cfg = as_model_config(policy_model_config(cfg, policy))
    tokenizer = load_tokenizer(model_cfg)
    kept, dropped = filter_trainable(dataset, tokenizer, train.max_length)
    if len(kept) == 0:
        raise ValueError(
            f"none of the {len(dataset)} pairs is trainable at max_length={train.max_length}: "
            f"{sorted(set(dropped.values()))}"
        )
    collator = PreferenceCollator(tokenizer, train.max_length)

    def loader(shuffle: bool) -> Any:
        return resumable_loader(
            kept,
            shuffle,
            seed,
            batch_size=train.batch_size,
            num_workers=train.num_workers,
            collate_fn=collator,
        )

    peft_cfg = to_dataclass(cfg.peft, PeftConfig) if "peft" in cfg else PeftConfig()

    def build_model() -> Any:
        """Run by the strategy (CausalLMModule.configure_model): sharded under ZeRO-3."""
        return apply_peft(
            load_causal_lm(model_cfg, with_tokenizer=False),
            peft_cfg,
            lambda: (_sft_view(b) for b in itertools.islice(loader(False), peft_cfg.ga_batches)),
            ga_cache_file=train_dir / "lora_ga_gradients.pt",
            seed=seed,
        )

    eager = peft_cfg.method == "lora_ga"  # as in fit_sft: LoRA-GA rewrites unsharded weights
    module = SimPOModule(
        build_model() if eager else build_model, simpo, to_dataclass(cfg.optim, OptimConfig)
    )
    checkpoints = train_dir / "checkpoints"
    trainer = build_trainer(
        to_dataclass(cfg.trainer, TrainerConfig),
        logger=logger,
        callbacks=list(callbacks),
        default_root_dir=train_dir,
        checkpoint_dir=checkpoints,
    )
    resume = last_checkpoint(checkpoints)
    trainer.fit(module, train_dataloaders=loader(train.shuffle), ckpt_path=resume)
    history = module.history  # the steps of this fit (after the checkpoint when it resumed)
    metrics: dict[str, Any] = {
        "pairs": len(dataset),
        "pairs_trained": len(kept),
        "pairs_untrainable": len(dropped),
        "steps": trainer.global_step,
        "resumed_from_step": module.start_step,
        "loss_first": history[0]["loss"] if history else float("nan"),
        "loss_last": history[-1]["loss"] if history else float("nan"),
        "trainable_params": trainable_parameters(module.model),
    }
    for key in SUMMARY_KEYS:
        metrics[f"{key.replace('/', '_')}_mean"] = (
            fmean(h[key] for h in history) if history else float("nan")
        )
    exported = None
    if export_dir is not None:  # every rank: ZeRO-3 gathers the weights collectively
        exported = export_hf(module.model, tokenizer, export_dir, write=trainer.is_global_zero)
        finish_checkpoints(trainer, checkpoints)
    return SimPOResult(metrics, dropped, exported)


def load_pairs(path: str | os.PathLike, command: str) -> Dataset:
    """A preference dataset from a ``save_to_disk`` folder or a JSONL file of pair rows."""
    from cycle.core.io import read_jsonl

    path = Path(path)
    if path.is_dir() and (path / "dataset_info.json").is_file():
        import datasets

        return datasets.load_from_disk(str(path))
    if path.is_file():
        return Dataset.from_list(read_jsonl(path))
    raise FileNotFoundError(
        f"no preference pairs at {path}: run `{command}` first, or set pairs=<folder|file.jsonl>"
    )


def write_dropped(path: str | os.PathLike, dropped: dict[str, str]) -> None:
    atomic_write_jsonl(path, [{"prompt_id": k, "reason": v} for k, v in sorted(dropped.items())])


def record_dropped(run: Run, dropped: dict[str, str], name: str = "untrainable_pairs") -> None:
    """Write dropped pairs with their reasons to ``<name>.jsonl`` and count them in the manifest."""
    if not dropped:
        return
    path = run.path(f"{name}.jsonl")
    write_dropped(path, dropped)
    run.add_artifact(name, path)
    for reason, count in sorted(Counter(dropped.values()).items()):
        run.log_rejected(reason, count)
