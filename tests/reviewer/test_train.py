"""train_reviewer end to end on the tiny setting, then evaluate_reviewer with its export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.factories.review5k import reviewed_paper, write_review5k

# The module's tests read one trained run: on one xdist worker, it is trained once.
pytestmark = pytest.mark.xdist_group("train_reviewer")

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from cycle.core.stages import run_stage

    root = tmp_path_factory.mktemp("train_reviewer")
    train = [
        reviewed_paper(f"t{i}", [3 + i, 6], "Reject" if i < 2 else "Accept (poster)", words=80)
        for i in range(4)
    ]
    test = [
        reviewed_paper("e0", [5, 6, 8], "Accept (poster)"),
        reviewed_paper("e1", [3, 3], "Reject"),
    ]
    data = write_review5k(root / "review5k", {"train": train, "test": test})
    run_dir = root / "run"
    overrides = [
        f"paths.root_dir={root}",
        f"review5k_dir={data}",
        "logger=csv",
        "model.context_length=1024",
        "model.tiny.tokenizer_files=[]",
        "trainer.max_epochs=2",
    ]
    metrics = run_stage("train_reviewer", overrides, run_dir=run_dir)
    return {
        "root": root,
        "data": data,
        "run_dir": run_dir,
        "metrics": metrics,
        "overrides": overrides,
    }


def test_loss_falls_and_papers_are_cut(trained: dict) -> None:
    m = trained["metrics"]
    assert m["steps"] == 8 and m["train_examples"] == 4
    assert m["loss_last"] < m["loss_first"] - 0.5
    assert (
        m["papers_truncated"] == 4 and m["paper_tokens_dropped"] > 0
    )  # 80-sentence papers > 384 tokens
    assert (trained["run_dir"] / "lora_ga_gradients.pt").is_file()  # LoRA-GA estimate, cached


def test_only_adapters_change(trained: dict) -> None:
    """Targets get LoRA (merged in the export), lm_head/norms are modules_to_save; nothing else moves."""
    import torch

    from cycle.core.config import load_stage_config
    from cycle.core.models import load_causal_lm
    from cycle.core.schemas import ModelConfig

    cfg = load_stage_config("train_reviewer", trained["overrides"])
    base = load_causal_lm(cfg.model, with_tokenizer=False).state_dict()
    exported = ModelConfig(name_or_path=str(trained["run_dir"] / "model"))
    model, tokenizer = load_causal_lm(exported)
    tuned = model.state_dict()
    assert tuned.keys() == base.keys()
    changed = {k for k in base if not torch.equal(base[k], tuned[k])}
    targets = {k for k in base if any(f"{t}.weight" in k for t in TARGETS)}
    saved = {k for k in base if k.startswith("lm_head") or k.endswith("norm.weight")}
    assert targets <= changed  # every LoRA target was trained
    assert changed <= targets | saved  # embeddings and anything else untouched
    assert "model.embed_tokens.weight" not in changed

    r = cfg.peft.r
    lora = sum(r * (base[k].shape[0] + base[k].shape[1]) for k in targets)
    assert trained["metrics"]["trainable_params"] == lora + sum(base[k].numel() for k in saved)
    assert tokenizer.chat_template is not None


def test_rejects_reviews_too_long_for_the_context(tmp_path: Path) -> None:
    from cycle.core.stages import run_stage

    long = reviewed_paper("long", [3, 5, 6, 8, 8, 6], "Accept (poster)")
    data = write_review5k(
        tmp_path / "review5k", {"train": [long], "test": [reviewed_paper("e", [3, 5], "Reject")]}
    )
    with pytest.raises(ValueError, match="no reviewer conversation fits"):
        run_stage(
            "train_reviewer",
            [
                f"paths.root_dir={tmp_path}",
                f"review5k_dir={data}",
                "logger=csv",
                "model.context_length=256",
            ],
            run_dir=tmp_path / "run",
        )
    rejected = [
        json.loads(x) for x in (tmp_path / "run" / "rejected.jsonl").read_text().splitlines()
    ]
    assert rejected[0]["id"] == "long" and "review too long" in rejected[0]["reason"]


def test_evaluate_the_exported_reviewer(trained: dict) -> None:
    """The default evaluator path: the real HF generator over the exported tiny reviewer."""
    from cycle.core.stages import run_stage

    run_dir = trained["root"] / "eval"
    result = run_stage(
        "evaluate_reviewer",
        [
            f"paths.root_dir={trained['root']}",
            f"review5k_dir={trained['data']}",
            "logger=csv",
            "model.context_length=1024",
            "sampling.max_new_tokens=16",
            f"reviewers.cycle_reviewer.model.name_or_path={trained['run_dir'] / 'model'}",
        ],
        run_dir=run_dir,
    )
    assert result["papers"] == 2
    reviews = (run_dir / "reviews" / "cycle_reviewer.jsonl").read_text().splitlines()
    assert len(reviews) == 2 and all(len(json.loads(r)["samples"]) == 1 for r in reviews)
    assert "CycleReviewer (ours)" in (run_dir / "table1.md").read_text()
    assert (run_dir / "score_distributions.png").is_file()
