"""Every stage on SmolLM2-135M-Instruct (``model=smollm2_135m``, the offline GGUF conversion shared
by the session): a few steps at <= 512 tokens on CPU. Training and export keep the tied
embeddings tied; generation and reviewing use the model's own chat template."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from safetensors import safe_open

from cycle.core.io import atomic_write_jsonl
from cycle.core.schemas import ModelConfig
from cycle.core.stages import discover_stages, run_stage
from tests.factories.research14k import write_research14k
from tests.factories.review5k import reviewed_paper, write_review5k
from tests.factories.stages import tiny_overrides


def _overrides(root: Path, cfg, *extra: str) -> list[str]:
    return tiny_overrides(
        root,
        "model=smollm2_135m",
        f"model.cache_dir={cfg.cache_dir}",  # the session's converted model
        *extra,
    )


def _assert_tied_export(folder: Path) -> None:
    config = json.loads((folder / "config.json").read_text())
    assert config["tie_word_embeddings"] is True
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys


@pytest.fixture(scope="module")
def reviewer_root(tmp_path_factory, smol_model_cfg) -> Path:
    root = tmp_path_factory.mktemp("smol_reviewer")
    # one review per training paper: system prompt + review set + some paper within 512 tokens
    train = [reviewed_paper(f"p{i}", [5], "Reject", words=30) for i in range(2)]
    test = [reviewed_paper("p2", [3, 6], "Reject", words=30)]
    write_review5k(
        root / "runs" / "build_data" / "tiny" / "review5k", {"train": train, "test": test}
    )
    return root


@pytest.mark.slow
def test_train_reviewer_lora_ga_then_evaluate(reviewer_root, smol_model_cfg) -> None:
    from cycle.core.models import load_causal_lm

    metrics = run_stage(
        "train_reviewer",
        _overrides(
            reviewer_root,
            smol_model_cfg,
            "sft.max_length=512",
            "min_paper_tokens=16",
            "peft.r=2",
            "peft.alpha=4",
            "peft.ga_batches=1",
            # trained in full on a tied model: must stay tied to the input embeddings
            "peft.modules_to_save=[lm_head]",
            "trainer.max_steps=2",
        ),
        run_dir=reviewer_root / "runs" / "train_reviewer" / "tiny",
    )
    assert metrics["steps"] == 2 and math.isfinite(metrics["loss_last"])
    assert metrics["rejected_too_long"] == 0
    exported = reviewer_root / "runs" / "train_reviewer" / "tiny" / "model"
    _assert_tied_export(exported)
    model = load_causal_lm(ModelConfig(name="x", name_or_path=str(exported)), with_tokenizer=False)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()

    result = run_stage(
        "evaluate_reviewer",
        _overrides(reviewer_root, smol_model_cfg, "sampling.max_new_tokens=24"),
        run_dir=reviewer_root / "evaluate",
    )
    assert result["papers"] == 1
    table = (reviewer_root / "evaluate" / "table1.md").read_text()
    assert "CycleReviewer (ours)" in table


@pytest.fixture(scope="module")
def researcher_root(tmp_path_factory, smol_model_cfg) -> Path:
    root = tmp_path_factory.mktemp("smol_researcher")
    write_research14k(root)
    return root


@pytest.mark.slow
def test_train_researcher_generate_simpo_and_rlloop(researcher_root, smol_model_cfg) -> None:
    from cycle.core.io import read_jsonl
    from cycle.core.models import resolve_model_path

    root = researcher_root
    metrics = run_stage(
        "train_researcher",
        _overrides(root, smol_model_cfg, "sft.max_length=384", "trainer.max_steps=2"),
        run_dir=root / "runs" / "train_researcher" / "tiny",
    )
    assert metrics["steps"] == 2 and math.isfinite(metrics["loss_last"])
    # lr 2e-5 (the smollm2 recipe): a real model's loss does not blow up as at the tiny lr 3e-3
    assert metrics["loss_last"] < 2 * metrics["loss_first"]
    policy = root / "runs" / "train_researcher" / "tiny" / "model"
    _assert_tied_export(policy)

    run_stage(
        "generate",
        _overrides(
            root,
            smol_model_cfg,
            "sampling.n=1",
            "sampling.max_new_tokens=8",
            "outline_attempts=1",
        ),
        run_dir=root / "generate",
    )
    papers = list(read_jsonl(root / "generate" / "papers.jsonl"))
    assert len(papers) == 1

    pairs = [
        {
            "prompt_id": f"p{i}",
            "prompt": [{"role": "user", "content": f"Write about topic {i}."}],
            "chosen": f"A clear paper about topic {i}.",
            "rejected": "zz qq xx",
            "chosen_reward": 6.0,
            "rejected_reward": 3.0,
        }
        for i in range(2)
    ]
    atomic_write_jsonl(root / "pairs.jsonl", pairs)
    simpo = run_stage(
        "simpo",
        _overrides(
            root,
            smol_model_cfg,
            f"pairs={root / 'pairs.jsonl'}",
            "train.max_length=128",
            "trainer.max_steps=1",
        ),
        run_dir=root / "simpo",
    )
    assert simpo["steps"] == 1 and math.isfinite(simpo["loss_last"])
    _assert_tied_export(root / "simpo" / "policy")

    # one round: the SFT policy writes 2 short papers per prompt, the base model reviews them
    loop = run_stage(
        "rlloop",
        _overrides(
            root,
            smol_model_cfg,
            "rounds=1",
            "prompts.max_prompts=1",
            "sampling.n=2",
            "sampling.max_new_tokens=8",
            "review.sampling.max_new_tokens=8",
            f"review.model.name_or_path={resolve_model_path(smol_model_cfg)}",
            "train.max_length=256",
        ),
        run_dir=root / "rlloop",
    )
    round_dir = root / "rlloop" / "round_0"
    assert len(list(read_jsonl(round_dir / "samples.jsonl"))) == 2
    assert len(list(read_jsonl(round_dir / "reviews.jsonl"))) == 2
    assert (round_dir / "steps" / "evaluate.json").is_file() and loop


def test_detect_scores_with_smollm2(tmp_path, smol_model_cfg) -> None:
    from tests.factories.human_texts import write_human_jsonl

    out = run_stage(
        "detect",
        [
            "model=smollm2_135m",
            f"model.cache_dir={smol_model_cfg.cache_dir}",
            f"paths.root_dir={tmp_path}",
            "logger=csv",
            f"detect.human_files=[{write_human_jsonl(tmp_path / 'human.jsonl', n_per_format=3)}]",
            "detect.human_corpus=null",
            "detect.prefix_tokens=8",
            "detect.max_new_tokens=16",
            "detector.n_boot=10",
        ],
        run_dir=tmp_path / "run",
    )
    report = (tmp_path / "run" / "report.md").read_text()
    assert "AUROC" in report and "TPR@1%FPR" in report
    assert any("auroc" in k for k in out)


@pytest.mark.parametrize("choice", ["model=smollm2_135m", "experiment=smol_cpu", "experiment=smol"])
def test_every_stage_composes_with_smollm2_and_its_recipe(choice, tmp_path) -> None:
    from cycle.core.config import load_stage_config

    for stage in discover_stages():
        needs = {"train_lm": ["data_files=[x]"], "sample": ["prompts_file=x"]}.get(stage, [])
        cfg = load_stage_config(stage, [choice, f"paths.root_dir={tmp_path}", *needs])
        if hasattr(cfg, "model"):
            assert cfg.model.name == "smollm2_135m", stage
    # the model's recipe, not the tiny model's: no lm_head trained in full, a real-model lr
    reviewer = load_stage_config("train_reviewer", [choice, f"paths.root_dir={tmp_path}"])
    assert reviewer.peft.modules_to_save == [] and reviewer.optim.lr == 2e-4
    assert load_stage_config("train_researcher", [choice]).optim.lr == 2e-5
