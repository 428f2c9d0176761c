"""SimPO + NLL training of a policy on a preference dataset, under any Lightning trainer preset.

``SimPOModule`` runs the chosen and rejected sequences of a batch in one forward pass
(``PreferenceCollator`` lays them out as ``[chosen; rejected]``), with completion log-probs
gathered in sequence chunks (``cycle.rlloop.logprobs``), and logs the loss, the NLL, the reward
margin, the chosen / rejected mean log-probs and the implicit-reward accuracy every step.
``fit_simpo`` loads a policy folder, drops pairs that cannot be trained on (with reasons),
trains, and exports the new policy as a Hugging Face folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
from datasets import Dataset

from cycle.core.schemas import OptimConfig
from cycle.core.training.fit import FitSpec
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


def fit_simpo(
    spec: FitSpec,
    simpo: SimPOConfig,
    train: PreferenceTrainConfig,
    train_dir: str | os.PathLike,
    dataset: Dataset,
    export_dir: str | os.PathLike | None = None,
    logger: Any = None,
    callbacks: Iterable[Any] = (),
) -> SimPOResult:
    """Train ``spec.model`` (the policy) on ``dataset`` with the SimPO + NLL loss ``simpo``, the
    pairs batched as ``train`` says; export to ``export_dir`` (rank 0) when given.

    Pairs the collator cannot encode (no completion token left after truncation) are dropped and
    returned with their reason; at least one trainable pair is required.
    """
    import lightning as L

    from cycle.core.models import load_tokenizer
    from cycle.core.training.fit import Batches, fit

    L.seed_everything(spec.seed, workers=True, verbose=False)
    tokenizer = load_tokenizer(spec.model)
    kept, dropped = filter_trainable(dataset, tokenizer, train.max_length)
    if len(kept) == 0:
        raise ValueError(
            f"none of the {len(dataset)} pairs is trainable at max_length={train.max_length}: "
            f"{sorted(set(dropped.values()))}"
        )
    batches = Batches(
        kept,
        PreferenceCollator(tokenizer, train.max_length),
        batch_size=train.batch_size,
        shuffle=train.shuffle,
        num_workers=train.num_workers,
    )
    fitted = fit(
        spec,
        lambda model, optim: SimPOModule(model, simpo, optim),
        batches,
        tokenizer,
        train_dir,
        ga_view=_sft_view,
        logger=logger,
        callbacks=callbacks,
        export_dir=export_dir,
    )
    history = fitted.module.history  # the steps of this fit (after the checkpoint when it resumed)
    metrics: dict[str, Any] = {
        "pairs": len(dataset),
        "pairs_trained": len(kept),
        "pairs_untrainable": len(dropped),
        **fitted.metrics([h["loss"] for h in history]),
    }
    for key in SUMMARY_KEYS:
        metrics[f"{key.replace('/', '_')}_mean"] = (
            fmean(h[key] for h in history) if history else float("nan")
        )
    return SimPOResult(metrics, dropped, fitted.exported)


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


def dropped_rows(dropped: dict[str, str]) -> list[dict[str, str]]:
    """Untrainable pairs as rows (``untrainable_pairs.jsonl``), by prompt id."""
    return [{"prompt_id": k, "reason": v} for k, v in sorted(dropped.items())]
