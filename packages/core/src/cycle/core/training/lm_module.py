"""A LightningModule for causal-LM SFT: loss on labelled tokens only (labels = -100 elsewhere)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from cycle.core.schemas import OptimConfig
from cycle.core.training.optim import build_optimizer, build_scheduler


class CausalLMModule(L.LightningModule):
    def __init__(self, model: torch.nn.Module, optim: OptimConfig):
        super().__init__()
        self.model = model
        self.optim = optim
        self.start_step = 0  # the global step training started at (> 0: resumed from a checkpoint)

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
