"""Supervised fine-tuning of a causal LM on chat conversations, loss on assistant tokens only.

The reviewer and researcher SFT stages prepare conversations and call ``fit_sft``; the model,
PEFT method, trainer preset and optimizer come from the stage's ``FitSpec``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import lightning as L

from cycle.core.chat import Message, tokenize_chat
from cycle.core.models import load_tokenizer
from cycle.core.runs import Run
from cycle.core.schemas import SFTConfig
from cycle.core.training.fit import Batches, FitSpec, fit
from cycle.core.training.lm_module import CausalLMModule
from cycle.core.training.sequences import labels_from_mask, pack_rows, pad_batch, truncate


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


def fit_sft(
    spec: FitSpec,
    sft: SFTConfig,
    run: Run,
    conversations: Sequence[Sequence[Message]],
    logger: Any,
    export_dir: str | Path | None = None,
    callbacks: Sequence[L.Callback] = (),
) -> dict[str, Any]:
    """Train ``spec.model`` on conversations under ``spec.trainer``; export to ``export_dir``.

    ``logger``: the stage's (closed here); ``callbacks``: more Lightning callbacks (e.g. a
    validation curve) for the trainer."""
    from cycle.core.tracking import finish

    tokenizer = load_tokenizer(spec.model)
    rows, rejected = encode_conversations(
        tokenizer, conversations, sft.max_length, sft.truncation, spec.seed
    )
    run.reject_rows(rejected, "sft_rejected")  # with their index and reason, never silently
    if not rows:
        raise ValueError("no trainable conversations (all rejected)")
    examples = len(rows)
    if sft.packing:
        rows = pack_rows(rows, sft.max_length)
    batches = Batches(
        rows,
        lambda b: pad_batch(b, tokenizer.pad_token_id),
        batch_size=sft.batch_size,
        shuffle=sft.shuffle,
        num_workers=sft.num_workers,
    )
    history = LossHistory()
    try:
        fitted = fit(
            spec,
            CausalLMModule,
            batches,
            tokenizer,
            run.dir,
            logger=logger,
            callbacks=[history, *callbacks],
            export_dir=export_dir,
        )
    finally:
        finish(logger)
    metrics = {
        "train_examples": examples,
        "train_rows": len(rows),
        "rejected_examples": len(rejected),
        **fitted.metrics(history.losses),
    }
    if export_dir is not None:
        run.add_artifact("model", export_dir)
    run.log_metrics(metrics)
    return metrics
