"""PEFT adapters from a ``PeftConfig``: none, LoRA, or LoRA-GA (peft's native implementation).

LoRA-GA initialises the adapters from the SVD of full-weight gradients estimated on a few
training batches (Wang et al. 2024). peft does not all-reduce that estimate across ranks, so rank
0 computes it once and writes a cache file that every rank loads; peft's SVD is randomized
(``torch.svd_lowrank``), so the adapters are built under a fixed seed: all ranks start from the
same adapters. The estimate must run before DeepSpeed wraps the model (ZeRO does not fill ``.grad``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cycle.core.distributed import is_rank_zero, rank_label
from cycle.core.schemas import PeftConfig


def lora_config(cfg: PeftConfig, tied_embeddings: bool = False) -> Any:
    """peft's LoraConfig; with tied input/output embeddings (SmolLM2, Gemma, ...) a module trained
    in full on one side (``modules_to_save: [lm_head]``) stays tied to the other, so the merged
    export keeps one embedding matrix."""
    from peft import LoraConfig, TaskType
    from peft.tuners.lora import LoraGAConfig

    kwargs: dict[str, Any] = dict(
        r=cfg.r,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        modules_to_save=list(cfg.modules_to_save) or None,
        task_type=TaskType.CAUSAL_LM,
        ensure_weight_tying=tied_embeddings,
    )
    if cfg.method == "lora_ga":
        kwargs["init_lora_weights"] = "lora_ga"
        kwargs["lora_ga_config"] = LoraGAConfig(
            direction=cfg.ga_direction, scale=cfg.ga_scale, stable_gamma=cfg.ga_stable_gamma
        )
    return LoraConfig(**kwargs)


def estimate_lora_ga_gradients(
    model: Any,
    config: Any,
    batches: Callable[[], Iterable[dict[str, Any]]],
    cache_file: str | os.PathLike,
    timeout_s: float = 3600.0,
) -> None:
    """Attach LoRA-GA gradient estimates to ``model``: computed on rank 0, loaded by the others."""
    import torch
    from peft.tuners.lora import preprocess_loraga

    cache = Path(cache_file)
    if torch.cuda.is_available() and model.device.type == "cpu":  # estimate on the accelerator
        model.to(torch.device("cuda", int(os.environ.get("LOCAL_RANK") or 0)))

    def train_step() -> None:
        for batch in batches():
            batch = {k: v.to(model.device) if torch.is_tensor(v) else v for k, v in batch.items()}
            out = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                labels=batch["labels"],
            )
            out.loss.backward()

    if not cache.exists():
        if is_rank_zero():
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
            cache.parent.mkdir(parents=True, exist_ok=True)
            preprocess_loraga(model, config, train_step, cache_file=str(tmp))
            os.replace(tmp, cache)
            return
        deadline = time.monotonic() + timeout_s
        while not cache.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{rank_label()}: LoRA-GA cache {cache} did not appear in {timeout_s}s"
                )
            time.sleep(2.0)
    preprocess_loraga(model, config, train_step, cache_file=str(cache))


def apply_peft(
    model: Any,
    cfg: PeftConfig,
    ga_batches: Callable[[], Iterable[dict[str, Any]]] | None = None,
    ga_cache_file: str | os.PathLike | None = None,
    seed: int = 0,
) -> Any:
    """Return ``model`` unchanged (``none``) or wrapped with LoRA / LoRA-GA adapters."""
    if cfg.method == "none":
        return model
    if cfg.method not in ("lora", "lora_ga"):
        raise ValueError(f"unknown peft.method '{cfg.method}' (none, lora, lora_ga)")
    from peft import get_peft_model

    tied = bool(getattr(getattr(model, "config", None), "tie_word_embeddings", False))
    config = lora_config(cfg, tied_embeddings=tied)
    if cfg.method == "lora_ga":
        if ga_batches is None:
            raise ValueError(
                "LoRA-GA needs training batches for its gradient estimate (ga_batches)"
            )
        cache = cfg.ga_cache_file or ga_cache_file
        if cache is None:
            raise ValueError("LoRA-GA needs a cache file (peft.ga_cache_file or the run directory)")
        estimate_lora_ga_gradients(model, config, ga_batches, cache)
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return get_peft_model(model, config)
