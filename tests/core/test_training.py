"""Lightning fit on the tiny model, W&B offline run + manifest, PEFT, export, schedules."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

from cycle.core.io import atomic_write_jsonl
from cycle.core.models import load_causal_lm
from cycle.core.schemas import ModelConfig, OptimConfig, PeftConfig
from cycle.core.stages import run_stage
from cycle.core.training.export import export_hf
from cycle.core.training.optim import lr_factor
from cycle.core.training.peft import apply_peft
from cycle.core.training.sequences import IGNORE_INDEX, labels_from_mask, pad_batch, truncate


def _conversations(n=4):
    return [
        {
            "messages": [
                {"role": "user", "content": f"Review paper {i} on sparse attention."},
                {
                    "role": "assistant",
                    "content": "## Rating\n\n6: marginally above the acceptance threshold",
                },
            ]
        }
        for i in range(n)
    ]


def test_one_batch_fit_lowers_the_loss_and_writes_wandb_run_and_manifest(tmp_path):
    data = atomic_write_jsonl(tmp_path / "train.jsonl", _conversations(4))
    run_dir = tmp_path / "run"
    metrics = run_stage(
        "train_lm",
        [
            f"data_files=[{data}]",
            f"paths.root_dir={tmp_path}",
            "sft.batch_size=4",
            "trainer.max_epochs=6",
            "optim.lr=3e-3",
            "optim.warmup_ratio=0",
            "trainer.enable_progress_bar=false",
        ],
        run_dir=run_dir,
    )
    assert metrics["steps"] == 6
    assert metrics["loss_last"] < metrics["loss_first"] - 0.5
    offline_runs = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(offline_runs) == 1 and offline_runs[0].stat().st_size > 0
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stage"] == "train_lm"
    assert manifest["artifacts"]["model"]["path"] == "model"
    assert manifest["metrics"]["loss_last"] == pytest.approx(metrics["loss_last"])
    assert (run_dir / "config.yaml").is_file()
    model, _ = load_causal_lm(ModelConfig(name_or_path=str(run_dir / "model")))
    assert (
        run_dir / "model" / "model.safetensors"
    ).is_file() and model.config.num_hidden_layers == 2


def test_malformed_rows_are_counted_not_dropped_silently(tmp_path):
    data = atomic_write_jsonl(
        tmp_path / "train.jsonl", [*_conversations(2), {"text": "no messages"}]
    )
    metrics = run_stage(
        "train_lm",
        [f"data_files=[{data}]", f"paths.root_dir={tmp_path}", "export=false", "logger=csv"],
        run_dir=tmp_path / "run",
    )
    assert metrics["train_examples"] == 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["rejected"] == {"no messages": 1}
    assert (
        '"record": 2, "reason": "no messages"' in (tmp_path / "run" / "rejected.jsonl").read_text()
    )
    assert (tmp_path / "run" / "csv" / "metrics.csv").is_file()


def _batches(tokenizer, n=2):
    from cycle.core.chat import tokenize_chat

    rows = []
    for conv in _conversations(n):
        ids, mask = tokenize_chat(tokenizer, conv["messages"])
        rows.append({"input_ids": ids, "labels": labels_from_mask(ids, mask)})
    return [pad_batch(rows, tokenizer.pad_token_id)]


@pytest.mark.parametrize("method", ["lora", "lora_ga"])
def test_peft_adapters_only_train_the_adapter_and_merge_on_export(method, tiny_model_cfg, tmp_path):
    model, tokenizer = load_causal_lm(tiny_model_cfg)
    base = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = PeftConfig(method=method, r=4, alpha=8, ga_batches=1)
    peft_model = apply_peft(
        model, cfg, lambda: iter(_batches(tokenizer)), ga_cache_file=tmp_path / "ga.pt"
    )
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    if method == "lora_ga":
        assert (tmp_path / "ga.pt").is_file()
        # LoRA-GA starts from gradient-derived adapters: A is not the default kaiming init, B is non-zero
        assert any(p.abs().sum() > 0 for n, p in peft_model.named_parameters() if "lora_B" in n)
    opt = torch.optim.SGD([p for p in peft_model.parameters() if p.requires_grad], lr=0.5)
    batch = _batches(tokenizer)[0]
    for _ in range(2):
        opt.zero_grad()
        peft_model(**batch).loss.backward()
        opt.step()
    export_hf(peft_model, tokenizer, tmp_path / "not_rank0", write=False)
    assert not (tmp_path / "not_rank0").exists()  # only global rank 0 writes
    export_hf(peft_model, tokenizer, tmp_path / "merged")
    merged, _ = load_causal_lm(ModelConfig(name_or_path=str(tmp_path / "merged")))
    state = merged.state_dict()
    assert not any("lora" in k for k in state)
    changed = [k for k in base if "proj" in k and not torch.equal(base[k], state[k])]
    assert changed, "merged weights should differ from the base after training the adapter"
    assert all(torch.equal(base[k], state[k]) for k in base if "norm" in k or "embed" in k)


def test_lora_ga_cache_gives_every_rank_the_same_init(tiny_model_cfg, tmp_path, monkeypatch):
    cfg = PeftConfig(method="lora_ga", r=4, alpha=8, ga_batches=1)
    inits = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        model, tokenizer = load_causal_lm(tiny_model_cfg)
        calls = []

        def batches(tok=tokenizer, calls=calls):
            calls.append(1)
            return iter(_batches(tok))

        peft_model = apply_peft(model, cfg, batches, ga_cache_file=tmp_path / "ga.pt")
        inits.append(
            {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}
        )
        if rank == "1":
            assert not calls, "rank 1 must load rank 0's estimate, not compute its own"
    assert inits[0].keys() == inits[1].keys()
    assert all(torch.allclose(inits[0][k], inits[1][k]) for k in inits[0])


def test_truncation_keeps_labels_aligned():
    ids = list(range(100, 120))
    labels = [IGNORE_INDEX] * 12 + ids[12:]
    for mode in ("end", "start", "random", "middle"):
        t_ids, t_labels = truncate(ids, labels, 10, mode, random.Random(0))
        assert len(t_ids) == len(t_labels) == 10
        assert all(lab in (IGNORE_INDEX, tok) for tok, lab in zip(t_ids, t_labels, strict=True))
    m_ids, m_labels = truncate(ids, labels, 12, "middle")
    assert m_ids[-8:] == ids[12:] and m_labels[-8:] == ids[12:]  # whole target kept
    assert m_ids[:2] == ids[:2]  # beginning of the prompt kept
    with pytest.raises(ValueError, match="unknown truncation"):
        truncate(ids, labels, 10, "sideways")


def test_lr_schedule_warmup_and_cosine_floor():
    cfg = OptimConfig(scheduler="cosine", warmup_ratio=0.1, min_lr_ratio=0.1)
    assert lr_factor(0, 100, cfg) == pytest.approx(0.1)
    assert lr_factor(9, 100, cfg) == pytest.approx(1.0)
    assert lr_factor(10, 100, cfg) == pytest.approx(1.0)
    assert lr_factor(55, 100, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(100, 100, cfg) == pytest.approx(0.1)
    assert lr_factor(50, 100, OptimConfig(scheduler="constant", warmup_ratio=0)) == 1.0


def test_sample_stage_writes_completions_resumes_and_lists_bad_rows(tmp_path):
    prompts = [
        {"id": "a", "prompt": "Title:"},
        {"id": "b", "prompt": [{"role": "user", "content": "Hi"}]},
        {"x": 1},
    ]
    path = atomic_write_jsonl(tmp_path / "p.jsonl", prompts)
    args = [
        f"prompts_file={path}",
        f"paths.root_dir={tmp_path}",
        "sampling.max_new_tokens=4",
        "sampling.n=2",
    ]
    first = run_stage("sample", args, run_dir=tmp_path / "run")
    assert first == {"prompts": 3, "sampled_now": 2, "resumed": 0, "rejected": 1}
    rows = [
        json.loads(x) for x in Path(tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    ]
    assert [r["id"] for r in rows] == ["a", "b"] and all(len(r["completions"]) == 2 for r in rows)
    assert "no 'prompt' field" in (tmp_path / "run" / "rejected.jsonl").read_text()
    manifest = tmp_path / "run" / "manifest.json"  # as if the run had been killed after sampling
    manifest.write_text(manifest.read_text().replace('"status": "complete"', '"status": "running"'))
    again = run_stage("sample", args, run_dir=tmp_path / "run")
    assert again["sampled_now"] == 0 and again["resumed"] == 2


def test_a_completed_stage_is_skipped_on_rerun_with_the_same_config(tmp_path):
    prompts = atomic_write_jsonl(tmp_path / "p.jsonl", [{"id": "a", "prompt": "Title:"}])
    args = [f"prompts_file={prompts}", f"paths.root_dir={tmp_path}", "sampling.max_new_tokens=2"]
    run_stage("sample", args, run_dir=tmp_path / "run")
    samples = tmp_path / "run" / "samples.jsonl"
    stamp = samples.stat().st_mtime_ns  # would change if the stage ran again
    assert (
        run_stage("sample", args, run_dir=tmp_path / "run")["sampled_now"] == 1
    )  # recorded metrics
    assert samples.stat().st_mtime_ns == stamp
    samples.write_text("")  # a changed artifact is not trusted: the stage runs again
    run_stage("sample", args, run_dir=tmp_path / "run")
    assert samples.read_text() != ""
    run_stage(
        "sample", [*args, "sampling.max_new_tokens=3"], run_dir=tmp_path / "run"
    )  # config changed
    assert (tmp_path / "run" / "samples.jsonl").read_text() != ""


def test_the_model_is_built_by_the_strategy(tmp_path, tiny_model_cfg):
    """CausalLMModule given a factory builds the model in configure_model (Lightning runs it in
    the strategy's sharded context: deepspeed.zero.Init under ZeRO-3; see test_deepspeed_gpu)."""
    import lightning as L

    from cycle.core.schemas import TrainerConfig
    from cycle.core.training.lm_module import CausalLMModule
    from cycle.core.training.trainer import build_trainer

    built = []

    def factory():
        built.append(L.pytorch.utilities.rank_zero_only.rank)
        return load_causal_lm(tiny_model_cfg, with_tokenizer=False)

    module = CausalLMModule(factory, OptimConfig())
    assert module.model is None and built == []
    row = {k: torch.ones(8, dtype=torch.long) for k in ("input_ids", "attention_mask", "labels")}
    batches = torch.utils.data.DataLoader([row], batch_size=1)
    trainer = build_trainer(TrainerConfig(max_steps=1, enable_progress_bar=False))
    trainer.fit(module, train_dataloaders=batches)
    assert built == [0] and module.model is not None and trainer.global_step == 1


def test_fit_spec_reads_the_stage_config_and_a_policy_replaces_the_model(tmp_path):
    from cycle.core.config import load_stage_config
    from cycle.core.models import policy_model_config
    from cycle.core.training.fit import fit_spec

    cfg = load_stage_config(
        "train_lm",
        [
            "data_files=[x]",
            "seed=7",
            "optim.lr=1e-3",
            "trainer.max_steps=3",
            f"paths.root_dir={tmp_path}",
        ],
    )
    spec = fit_spec(cfg)
    assert (spec.seed, spec.optim.lr, spec.trainer.max_steps) == (7, 1e-3, 3)
    assert spec.peft == PeftConfig() and spec.model.name_or_path is None  # base's peft: none
    policy = fit_spec(cfg, model=policy_model_config(cfg.model, tmp_path / "policy")).model
    assert policy.name_or_path == str(tmp_path / "policy")
    assert cfg.model.name_or_path is None  # the stage config is left as it was
