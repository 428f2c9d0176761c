"""Export a trained model (full, or LoRA merged into its base) as a safetensors HF folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from cycle.core.models import save_hf_folder


def unwrap(model: Any) -> Any:
    """The Hugging Face model inside a LightningModule and/or a PEFT wrapper, LoRA merged."""
    model = getattr(model, "model", model) if not hasattr(model, "save_pretrained") else model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return model


def export_hf(model: Any, tokenizer: Any, path: str | os.PathLike) -> Path:
    """Write ``path`` atomically; loadable by ``load_causal_lm`` and vLLM (LoRA is merged in place)."""
    hf_model = unwrap(model)
    was_training = hf_model.training
    hf_model.eval()
    try:
        return save_hf_folder(hf_model, tokenizer, path)
    finally:
        hf_model.train(was_training)
