"""Export a trained model (full, or LoRA merged into its base) as a safetensors HF folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.core.models import save_hf_folder


def unwrap(model: Any) -> Any:
    """The Hugging Face model inside a LightningModule and/or a PEFT wrapper, LoRA merged."""
    model = getattr(model, "model", model) if not hasattr(model, "save_pretrained") else model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model


@contextlib.contextmanager
def gathered_parameters(model: Any) -> Iterator[None]:
    """Whole parameters inside the block when DeepSpeed ZeRO-3 has partitioned them across ranks
    (``ds_id`` marks a partitioned parameter); a no-op otherwise. Collective: every rank enters."""
    partitioned = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if not partitioned:
        yield
        return
    import deepspeed

    with deepspeed.zero.GatheredParameters(partitioned, modifier_rank=None):
        yield


def export_hf(
    model: Any, tokenizer: Any, path: str | os.PathLike, write: bool = True
) -> Path | None:
    """Write ``path`` atomically; loadable by ``load_causal_lm`` and vLLM (LoRA is merged in place).

    Under ZeRO-3 every rank must call this (the weights are gathered collectively); only the
    rank with ``write`` (global rank 0) saves, and the others get None.
    """
    with gathered_parameters(model):
        hf_model = unwrap(model)
        if not write:
            return None
        was_training = hf_model.training
        hf_model.eval()
        try:
            return save_hf_folder(hf_model, tokenizer, path)
        finally:
            hf_model.train(was_training)
