"""A training stage killed mid-epoch is marked failed with its reason; rerunning the same
command resumes from the last checkpoint and ends with the weights of an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from cycle.core.io import atomic_write_jsonl
from cycle.core.stages import run_stage


class Killed(RuntimeError):
    pass


def _kill_at(monkeypatch, module_cls: type, step: int) -> None:
    """Make ``module_cls.training_step`` raise when the global step reaches ``step``."""
    real = module_cls.training_step

    def training_step(self, batch, batch_idx):
        if self.trainer.global_step == step:
            raise Killed(f"killed at step {step}\nsecond line")
        return real(self, batch, batch_idx)

    monkeypatch.setattr(module_cls, "training_step", training_step)


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def _kill_and_resume(monkeypatch, tmp_path, stage, overrides, module_cls, export) -> dict:
    clean = run_stage(stage, overrides, run_dir=tmp_path / "clean")
    run_dir = tmp_path / "killed"
    with monkeypatch.context() as patch:
        _kill_at(patch, module_cls, 3)
        with pytest.raises(Killed):
            run_stage(stage, overrides, run_dir=run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"] == "Killed: killed at step 3"
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    resumed = run_stage(stage, overrides, run_dir=run_dir)
    assert resumed["resumed_from_step"] == 2 and clean["resumed_from_step"] == 0
    assert resumed["steps"] == clean["steps"] == 8
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and "error" not in manifest
    assert not (run_dir / "checkpoints").exists()  # removed once the model is exported
    _same_weights(tmp_path / "clean" / export, run_dir / export)
    return resumed


def test_train_lm_resumes_mid_epoch(monkeypatch, tmp_path) -> None:
    from cycle.core.training.lm_module import CausalLMModule

    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Count to {i}."},
                {"role": "assistant", "content": " ".join(str(k) for k in range(i + 2))},
            ]
        }
        for i in range(8)
    ]
    data = atomic_write_jsonl(tmp_path / "chats.jsonl", rows)
    overrides = [  # 8 rows / batch 2 = 4 steps an epoch, 2 epochs; killed at step 3 of epoch 0
        f"data_files=[{data}]",
        f"paths.root_dir={tmp_path}",
        "logger=csv",
        "trainer.max_epochs=2",
        "trainer.checkpoint_every_n_steps=2",
        "optim.lr=3e-3",
    ]
    _kill_and_resume(monkeypatch, tmp_path, "train_lm", overrides, CausalLMModule, "model")


def test_simpo_resumes_mid_epoch(monkeypatch, tiny_lm, tmp_path) -> None:
    from cycle.core.models import save_hf_folder
    from cycle.rlloop.simpo_module import SimPOModule

    save_hf_folder(*tiny_lm, tmp_path / "policy")
    prompt = [{"role": "user", "content": "Write."}]
    rows = [
        {
            "prompt_id": f"p{i}",
            "prompt": prompt,
            "chosen": [{"role": "assistant", "content": f"A clear paper {i}."}],
            "rejected": [{"role": "assistant", "content": f"zz qq {i}"}],
            "chosen_reward": 6.0,
            "rejected_reward": 3.0,
        }
        for i in range(4)
    ]
    pairs = atomic_write_jsonl(tmp_path / "pairs.jsonl", rows)
    overrides = [  # 4 pairs, batch 1: 4 steps an epoch, 2 epochs
        f"paths.root_dir={tmp_path}",
        "logger=csv",
        f"pairs={pairs}",
        f"policy={tmp_path / 'policy'}",
        "train.max_length=64",
        "trainer.max_epochs=2",
        "trainer.checkpoint_every_n_steps=2",
        "optim.lr=1e-3",
    ]
    _kill_and_resume(monkeypatch, tmp_path, "simpo", overrides, SimPOModule, "policy")
