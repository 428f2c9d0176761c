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
