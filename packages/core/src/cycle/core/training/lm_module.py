"""A LightningModule for causal-LM SFT: loss on labelled tokens only (labels = -100 elsewhere).

Given a factory instead of a model, the module builds it in ``configure_model``, which Lightning
calls inside the strategy's sharded context (``deepspeed.zero.Init`` under ZeRO-3): each rank then
holds its shard of the weights, never a whole host copy of a 72B/123B model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch

from cycle.core.schemas import OptimConfig
from cycle.core.training.optim import build_optimizer, build_scheduler


@contextlib.contextmanager
def hf_zero3_context(strategy: Any) -> Iterator[None]:
    """Under DeepSpeed ZeRO-3, make ``from_pretrained`` build partitioned parameters and load
    each checkpoint shard into them (transformers' ZeRO-3 path, enabled by an
    ``HfDeepSpeedConfig`` alive during the load); a no-op for every other strategy."""
    config = getattr(strategy, "config", None)
    if not isinstance(config, dict) or config.get("zero_optimization", {}).get("stage") != 3:
        yield
        return
    from transformers.integrations import HfDeepSpeedConfig

    keep = HfDeepSpeedConfig(config)  # transformers holds it by weak reference
    try:
        yield
    finally:
        del keep


class CausalLMModule(L.LightningModule):
    def __init__(
        self, model: torch.nn.Module | Callable[[], torch.nn.Module], optim: OptimConfig
    ) -> None:
        super().__init__()
        built = isinstance(model, torch.nn.Module)
        self.model: torch.nn.Module | None = model if built else None
        self._build = None if built else model
        self.optim = optim
        self.start_step = 0  # the global step training started at (> 0: resumed from a checkpoint)

    def configure_model(self) -> None:
        if self.model is None and self._build is not None:
            with hf_zero3_context(self.trainer.strategy):
                self.model = self._build()

    def on_fit_start(self) -> None:
        self.model.train()  # from_pretrained returns the model in eval mode (dropout off)

    def on_train_start(self) -> None:
        self.start_step = self.trainer.global_step

    def forward(self, **batch: Any) -> Any:
        return self.model(**batch)

    def _loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if "position_ids" in batch:  # packed rows: block-diagonal attention from position restarts
            return self.model(
                input_ids=batch["input_ids"],
                position_ids=batch["position_ids"],
                labels=batch["labels"],
                use_cache=False,
            ).loss
        return self.model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            labels=batch["labels"],
        ).loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        tokens = (batch["labels"] != -100).sum()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        self.log(
            "train/target_tokens",
            tokens.float(),
            reduce_fx="sum",
            batch_size=batch["input_ids"].shape[0],
        )
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)
        self.log("val/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def configure_optimizers(self) -> dict:
        optimizer = build_optimizer(self.model.parameters(), self.optim)
        total = 1
        if self._trainer is not None:
            total = int(self.trainer.estimated_stepping_batches)
            # Counting the steps makes Lightning build the train loader now, before it restores a
            # checkpoint, and it would never hand that loader its saved position: drop it, so it
            # is built again after the restore (a resumed epoch continues where it stopped).
            self.trainer.fit_loop._combined_loader = None
        return {
            "optimizer": optimizer,
            "lr_scheduler": build_scheduler(optimizer, self.optim, total),
        }
