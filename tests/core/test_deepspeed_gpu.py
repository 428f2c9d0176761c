"""DeepSpeed training steps under Lightning (CUDA only: skipped on CPU machines)."""

from __future__ import annotations

import pytest
import torch

from cycle.core.io import atomic_write_jsonl
from cycle.core.models import load_causal_lm
from cycle.core.schemas import ModelConfig
from cycle.core.stages import run_stage

pytestmark = pytest.mark.gpu


def _fit(tmp_path, tiny_model_cfg, *overrides):
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Review paper {i} on sparse attention."},
                {"role": "assistant", "content": "## Rating\n\n6: marginally above the threshold"},
            ]
        }
        for i in range(4)
    ]
    data = atomic_write_jsonl(tmp_path / "train.jsonl", rows)
    return run_stage(
        "train_lm",
        [
            f"data_files=[{data}]",
            f"paths.root_dir={tmp_path}",
            f"model.cache_dir={tiny_model_cfg.cache_dir}",
            "logger=csv",
            "sft.batch_size=4",
            "trainer.devices=1",
            "trainer.accumulate_grad_batches=1",
            "trainer.max_epochs=6",
            "trainer.enable_progress_bar=false",
            "optim.lr=3e-3",
            "optim.warmup_ratio=0",
            *overrides,
        ],
        run_dir=tmp_path / "run",
    )


@pytest.mark.parametrize(
    "preset",
    [
        ["trainer=deepspeed_zero2"],
        [
            "trainer=deepspeed_zero3_offload",
            "trainer.deepspeed.offload_optimizer=false",
            "trainer.deepspeed.offload_parameters=false",
        ],
    ],
    ids=["zero2", "zero3"],
)
def test_deepspeed_fit_lowers_the_loss_and_exports_whole_weights(
    tmp_path, tiny_lm, tiny_model_cfg, preset
):
    metrics = _fit(tmp_path, tiny_model_cfg, *preset)
    assert metrics["loss_last"] < metrics["loss_first"] - 0.5
    base = tiny_lm[0].state_dict()
    exported, _ = load_causal_lm(ModelConfig(name_or_path=str(tmp_path / "run" / "model")))
    state = exported.state_dict()
    # ZeRO-3 partitions the weights: an export that did not gather them writes empty tensors
    assert all(state[k].shape == v.shape for k, v in base.items())
    assert any(not torch.equal(state[k].float(), v.float()) for k, v in base.items())


def test_zero3_builds_the_model_partitioned_inside_the_strategy(tmp_path, tiny_model_cfg):
    """configure_model runs under deepspeed.zero.Init: the weights exist only as ZeRO-3 shards."""
    import lightning as L

    from cycle.core.schemas import OptimConfig, TrainerConfig
    from cycle.core.training.lm_module import CausalLMModule
    from cycle.core.training.trainer import build_trainer

    seen = {}

    class Probe(L.Callback):
        def on_fit_start(self, trainer, module):
            params = list(module.model.parameters())
            seen["partitioned"] = all(hasattr(p, "ds_id") for p in params)
            seen["local"] = sum(p.numel() for p in params)
            seen["full"] = sum(p.ds_numel for p in params)

    cfg = TrainerConfig(
        name="zero3", accelerator="gpu", devices=1, precision="bf16-mixed", max_steps=1,
        deepspeed={"stage": 3, "offload_optimizer": False, "offload_parameters": False},
    )  # fmt: skip
    module = CausalLMModule(
        lambda: load_causal_lm(tiny_model_cfg, with_tokenizer=False), OptimConfig()
    )
    assert module.model is None
    row = {k: torch.ones(8, dtype=torch.long) for k in ("input_ids", "attention_mask", "labels")}
    batches = torch.utils.data.DataLoader([row], batch_size=1)
    build_trainer(cfg, callbacks=[Probe()]).fit(module, train_dataloaders=batches)
    assert seen["partitioned"] and seen["local"] == 0 < seen["full"]
