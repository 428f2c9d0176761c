"""Picking and building a generation backend from the ``backend`` and ``model`` config groups."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cycle.core.generation.base import Generator
from cycle.core.schemas import BackendConfig, ModelConfig

BACKENDS = ("hf", "vllm")


def build_generator(
    backend_cfg: BackendConfig,
    model_cfg: ModelConfig,
    logits_processors: Sequence[Any] = (),
    *,
    lora_path: str | None = None,
    extra_args: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> Generator:
    """An ``HFGenerator`` (``backend.name=hf``) or a ``VLLMGenerator`` (``backend.name=vllm``).

    ``logits_processors`` follow the backend's convention: HF-style callables for ``hf``;
    engine-level classes or ``"pkg.module:Class"`` names for ``vllm``, configured per request
    through ``extra_args`` (ignored by ``hf``, whose processors carry their own settings).
    ``lora_path`` is a PEFT adapter folder applied on top of the model.
    """
    from cycle.core.models import load_tokenizer

    if backend_cfg.name == "hf":
        import torch

        from cycle.core.generation.hf_backend import HFGenerator
        from cycle.core.models import load_causal_lm

        model, tokenizer = load_causal_lm(model_cfg)
        if lora_path is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, lora_path)
        cuda = torch.cuda.is_available()
        model.to("cuda" if cuda else "cpu").eval()
        return HFGenerator(
            model,
            tokenizer,
            batch_size=int(backend_cfg.batch_size),
            logits_processors=logits_processors,
            progress=progress,
            static_cache=cuda and bool(getattr(backend_cfg, "static_cache", False)),
        )
    if backend_cfg.name == "vllm":
        from cycle.core.generation.vllm_backend import VLLMGenerator
        from cycle.core.models import resolve_model_path

        return VLLMGenerator(
            resolve_model_path(model_cfg),
            backend_cfg,
            lora_path=lora_path,
            logits_processors=logits_processors,
            extra_args=extra_args,
            tokenizer=load_tokenizer(model_cfg),
            trust_remote_code=model_cfg.trust_remote_code,
            progress=progress,
        )
    raise ValueError(f"unknown generation backend '{backend_cfg.name}' (choose one of {BACKENDS})")
