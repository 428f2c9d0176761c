"""evaluate_reviewer end to end with a scripted generator; reviewer experiment presets compose."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from cycle.data.records import Review, ReviewedPaper
from cycle.data.review_text import ReviewSet, render_review_text
from tests.factories.review5k import reviewed_paper, write_review5k


def review_set_text(ratings: Sequence[float], decision: str) -> str:
    reviews = [
        Review(summary="s", soundness=3, presentation=3, contribution=3, rating=r, confidence=3)
        for r in ratings
    ]
    return render_review_text(ReviewSet(reviews, "meta", decision))


# Test papers: human ratings, decision, and what the scripted reviewer answers.
A = reviewed_paper("A", [4, 6, 8], "Accept (poster)")
B = reviewed_paper("B", [3, 5], "Reject")
C = reviewed_paper("C", [6, 6], "Accept (oral)")
OUTPUTS = {
    "Paper A": review_set_text([5, 7], "Accept (poster)"),  # mean 6
    "Paper B": review_set_text([5, 5], "Accept (poster)"),  # mean 5, wrong decision
    "Paper C": "I could not review this paper.",  # no rating: missing, not zero
}


def test_evaluate_reviewer_table_matches_hand_computed(tmp_path: Path) -> None:
    from cycle.core.stages import run_stage

    data = write_review5k(
        tmp_path / "review5k", {"train": [reviewed_paper("T", [5, 6], "Reject")], "test": [A, B, C]}
    )
    run_dir = tmp_path / "run"
    (tmp_path / "outputs.json").write_text(json.dumps(OUTPUTS))
    result = run_stage(
        "evaluate_reviewer",
        [
            f"paths.root_dir={tmp_path}",
            f"review5k_dir={data}",
            "logger=wandb",
            "logger.mode=offline",
            "~reviewers.cycle_reviewer",
            "+reviewers.scripted.label=Scripted",
            "+reviewers.scripted.generator._target_=tests.factories.generators.ScriptedGenerator",
            f"+reviewers.scripted.generator.outputs_file={tmp_path / 'outputs.json'}",
        ],
        run_dir=run_dir,
    )
    # Human individual, by hand. Proxy (per paper): A: e = 4-7, 6-6, 8-5 -> sq 6, abs 2;
    # B: e = 3-5, 5-3 -> sq 4, abs 2; C: 0 -> MSE 10/3, MAE 4/3.
    # Votes (rating >= 6): A: R A A vs Accept, B: R R vs Reject, C: A A vs Accept -> 6/7 right;
    # F1 accept: P 1, R 4/5 -> 8/9; reject: P 2/3, R 1 -> 4/5; macro (8/9 + 4/5) / 2.
    human = {"mse_n1": 10 / 3, "mae_n1": 4 / 3, "accuracy": 6 / 7, "macro_f1": (8 / 9 + 0.8) / 2}
    # Scripted reviewer: A predicts 6, B predicts 5, C nothing (skipped, counted).
    # n mode: A 6 - 6 = 0, B 5 - 4 = 1. n-1 mode: the mean over every held-out review of the
    # error against the ratings left in: A 6-7, 6-6, 6-5 -> sq 2/3, abs 2/3; B 5-5, 5-3 -> 2, 1.
    # Decisions: A right, B wrong, C missing -> accuracy 1/2; F1 accept 2/3, reject 0.
    model = {
        "mse_n1": (2 / 3 + 2) / 2,
        "mae_n1": (2 / 3 + 1) / 2,
        "mse_n": 0.5,
        "mae_n": 0.5,
        "accuracy": 0.5,
        "macro_f1": 1 / 3,
    }
    for key, value in human.items():
        assert result[f"Human individual/{key}"] == pytest.approx(value)
    for key, value in model.items():
        assert result[f"Scripted/{key}"] == pytest.approx(value)
    assert result["Scripted/parse_rate"] == pytest.approx(2 / 3)
    assert result["Scripted/skipped_no_prediction"] == 1

    table = (run_dir / "table1.md").read_text()
    assert "| Human individual | 3.33 | 1.33 | — | — | 85.71% | 84.44 | 3 | — |" in table
    row = f"| Scripted | {model['mse_n1']:.2f} | {model['mae_n1']:.2f} | 0.50 | 0.50 | 50.00% | 33.33 | 2 | 67% |"
    assert row in table
    assert "| CycleReviewer (paper) | 1.43 | 0.92 | 1.25 | 0.87 | 74.24% | 73.99 |" in table
    assert (run_dir / "score_distributions.png").stat().st_size > 10_000
    reviews = [
        json.loads(line)
        for line in (run_dir / "reviews" / "scripted.jsonl").read_text().splitlines()
    ]
    assert [r["id"] for r in reviews] == ["A", "B", "C"]
    assert reviews[2]["reward"] is None and reviews[2]["n_unparseable"] == 1
    assert any((run_dir / "wandb").glob("offline-run-*"))
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert {"table1", "score_distributions", "reviews/scripted"} <= set(manifest["artifacts"])


def test_evaluate_reviewer_names_the_missing_upstream(tmp_path: Path) -> None:
    from cycle.core.stages import run_stage

    with pytest.raises(FileNotFoundError, match="cycle build_data experiment=tiny"):
        run_stage(
            "evaluate_reviewer",
            [f"paths.root_dir={tmp_path}", "experiment=tiny"],
            run_dir=tmp_path / "run",
        )
    data = write_review5k(tmp_path / "review5k", {"train": [A], "test": [B]})
    with pytest.raises(FileNotFoundError, match="cycle train_reviewer experiment=tiny"):
        run_stage(
            "evaluate_reviewer",
            [f"paths.root_dir={tmp_path}", "experiment=tiny", f"review5k_dir={data}", "logger=csv"],
            run_dir=tmp_path / "run",
        )


def test_reviewer_entries_change_the_stage_nodes(tmp_path: Path) -> None:
    """An entry's partial model / sampling / reviewer nodes replace only the keys they name; a
    ``tiny`` mapping becomes a ``TinyModelConfig``; the stage's own nodes are left as they were."""
    from cycle.core.config import load_stage_config, with_changes
    from cycle.core.schemas import ModelConfig, TinyModelConfig
    from cycle.reviewer.stages import _reviewer_setups

    cfg = load_stage_config(
        "evaluate_reviewer",
        [
            f"paths.root_dir={tmp_path}",
            "+reviewers.small={label: Small, model: {tiny: {hidden_size: 64}},"
            " sampling: {temperature: 0.0}, reviewer: {k: 2}}",
        ],
    )
    setups = _reviewer_setups(cfg)
    assert setups["cycle_reviewer"].label == "CycleReviewer (ours)"
    small = setups["small"]
    assert small.label == "Small" and small.generator is None
    assert isinstance(small.model.tiny, TinyModelConfig) and small.model.tiny.hidden_size == 64
    assert small.model.tiny.vocab_size == cfg.model.tiny.vocab_size  # the rest kept
    assert small.model.context_length == cfg.model.context_length
    assert small.sampling.temperature == 0.0 and small.sampling.top_p == cfg.sampling.top_p
    assert small.reviewer.k == 2 and small.reviewer.num_reviews == cfg.reviewer.num_reviews
    assert small.backend == cfg.backend
    assert cfg.model.tiny.hidden_size != 64 and cfg.sampling.temperature != 0.0  # not changed
    # A model with no tiny node gets one from the mapping, on the dataclass defaults.
    hub = with_changes(ModelConfig(name_or_path="x"), {"tiny": {"hidden_size": 64}}, "m")
    assert hub.tiny == TinyModelConfig(hidden_size=64)
    assert with_changes(cfg.model, {"tiny": None}, "m").tiny is None


def test_a_typo_in_a_reviewer_entry_fails_before_any_work(tmp_path: Path) -> None:
    """An unknown key in an entry is one ``ConfigError`` naming its path, raised before the
    papers are read (here there are none: the missing Review-5K would fail otherwise)."""
    from cycle.core.errors import ConfigError
    from cycle.core.stages import run_stage

    for key, path in [
        ("model.nme_or_path=x", "reviewers.cycle_reviewer.model.nme_or_path"),
        ("model.tiny.hiden_size=64", "reviewers.cycle_reviewer.model.tiny.hiden_size"),
        ("sampling.temprature=0", "reviewers.cycle_reviewer.sampling.temprature"),
        ("reviewer.kk=2", "reviewers.cycle_reviewer.reviewer.kk"),
    ]:
        with pytest.raises(ConfigError, match=f"^{path}: no such key") as err:
            run_stage(
                "evaluate_reviewer",
                [f"paths.root_dir={tmp_path}", "logger=csv", f"+reviewers.cycle_reviewer.{key}"],
                run_dir=tmp_path / "run",
            )
        assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "reviews").exists()


@pytest.mark.parametrize("experiment", ["reviewer_123b", "reviewer_70b", "reviewer_8b"])
def test_reviewer_presets_compose_for_both_stages(tmp_path: Path, experiment: str) -> None:
    from cycle.core.config import load_stage_config

    train = load_stage_config(
        "train_reviewer", [f"experiment={experiment}", f"paths.root_dir={tmp_path}"]
    )
    assert train.peft.method == "lora_ga" and train.optim.lr == pytest.approx(1e-5)
    assert train.trainer.max_epochs == 12 and train.trainer.devices == 8
    assert (
        train.sft.batch_size * train.trainer.accumulate_grad_batches * train.trainer.devices == 32
    )
    assert train.model.tiny is None and train.model.name_or_path is not None
    assert train.peft.modules_to_save == []
    assert train.sft.max_length == train.model.context_length
    assert train.review5k_dir.endswith(f"build_data/{experiment}/review5k")
    evaluate = load_stage_config(
        "evaluate_reviewer", [f"experiment={experiment}", f"paths.root_dir={tmp_path}"]
    )
    assert evaluate.backend.name == "vllm" and evaluate.model.name == train.model.name
    assert (
        evaluate.reviewers["cycle_reviewer"]
        .model["name_or_path"]
        .endswith(f"train_reviewer/{experiment}/model")
    )
    assert evaluate.sampling.temperature == pytest.approx(
        0.4
    ) and evaluate.sampling.top_p == pytest.approx(0.95)


# Stored outputs in the three layouts: CycleReviewer A, CycleReviewer B, DeepReviewer (fast mode).
STORED = [
    {"id": "A", "text": review_set_text([5, 7], "Accept (poster)")},
    {
        "paper_id": "B",
        "output": render_review_text(
            ReviewSet(
                [Review(summary="s", rating=5), Review(summary="t", rating=5)], "m", "Reject"
            ),
            "B",
        ),
    },
    {
        "id": "C",
        "text": "Fast mode.\n\\boxed_review{\n## Summary:\n\nOk.\n\n## Rating:\n\n6.5\n\n"
        "## Decision:\n\nAccept (poster)\n}",
    },
]
# By hand: n: A 6-6, B 5-4, C 6.5-6. n-1 (expectation): A sq 2/3 abs 2/3; B 2, 1; C .25, .5.
STORED_TABLE = {
    "mse_n1": (2 / 3 + 2 + 0.25) / 3,
    "mae_n1": (2 / 3 + 1 + 0.5) / 3,
    "mse_n": 1.25 / 3,
    "mae_n": 0.5,
    "accuracy": 1.0,
    "macro_f1": 1.0,
}


def _gold_record(rp: ReviewedPaper) -> dict:
    """OpenReview-style review record without paper text (ratings int beside, string inside)."""
    return {
        "id": rp.paper.paper_id,
        "title": rp.paper.title,
        "decision": rp.decision,
        "review": [
            {
                "id": f"r{i}",
                "rating": int(r.rating),
                "content": {"rating": {"value": f"{r.rating:g}: x"}},
            }
            for i, r in enumerate(rp.reviews)
        ],
    }


def _write_predictions(path: Path, rows: list[dict]) -> Path:
    lines = [json.dumps(r) for r in rows]
    lines += [
        "{not json",
        json.dumps({"id": "Z", "text": "## Rating\n\n6"}),
        json.dumps({"id": "A"}),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_evaluate_stored_predictions_against_review5k(tmp_path: Path) -> None:
    from cycle.core.stages import run_stage

    data = write_review5k(tmp_path / "review5k", {"test": [A, B, C]})
    preds = _write_predictions(tmp_path / "preds.jsonl", STORED)
    run_dir = tmp_path / "run"
    result = run_stage(
        "evaluate_reviewer",
        [
            f"paths.root_dir={tmp_path}",
            f"review5k_dir={data}",
            f"predictions={preds}",
            "predictions_label=Stored",
            "logger=csv",
        ],
        run_dir=run_dir,
    )
    for key, value in STORED_TABLE.items():
        assert result[f"Stored/{key}"] == pytest.approx(value), key
    rejected = [json.loads(x) for x in (run_dir / "rejected.jsonl").read_text().splitlines()]
    assert sorted(r["reason"].split(":")[0] for r in rejected) == [
        "invalid JSON",
        "no a text (text / output)",
        "no human reviews for this id",
    ]
    assert (
        "averaged over every choice of the held-out review" in (run_dir / "table1.md").read_text()
    )


def test_cli_scores_predictions_against_a_gold_file_whatever_the_order(tmp_path: Path) -> None:
    """`cycle evaluate_reviewer predictions=<jsonl> gold=<file>` prints Table 1; row order of
    either file does not change it, and the sampled n-1 draw does not depend on it either."""
    import os
    import subprocess
    import sys

    gold = tmp_path / "gold.json"
    records = [_gold_record(rp) for rp in (A, B, C)]
    records[1]["review"][0]["content"]["rating"] = "3: reject, not good enough"  # mixed types
    gold.write_text(json.dumps(records))
    preds = _write_predictions(tmp_path / "preds.jsonl", STORED)
    cmd = [sys.executable, "-m", "cycle.core.cli", "evaluate_reviewer"]
    common = [f"paths.root_dir={tmp_path}", f"gold={gold}", f"predictions={preds}", "logger=csv"]
    out = subprocess.run(
        [*cmd, *common, "predictions_label=DeepReviewer", f"hydra.run.dir={tmp_path / 'a'}"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "## Reviewer evaluation (gold gold.json test, 3 papers" in out.stdout
    t = STORED_TABLE
    assert (
        f"| DeepReviewer | {t['mse_n1']:.2f} | {t['mae_n1']:.2f} | {t['mse_n']:.2f} | 0.50 | "
        "100.00% | 100.00 | 3 | 100% |" in out.stdout
    )
    from cycle.core.stages import run_stage

    gold.write_text(json.dumps([_gold_record(rp) for rp in (C, A, B)]))
    _write_predictions(preds, STORED[::-1])
    tables = []
    for draw in ("expected", "sampled"):
        for order in (("A", "B", "C"), ("C", "B", "A")):
            by_id = {rp.paper.paper_id: rp for rp in (A, B, C)}
            gold.write_text(json.dumps([_gold_record(by_id[i]) for i in order]))
            result = run_stage(
                "evaluate_reviewer",
                [*common, f"proxy_n1={draw}"],
                run_dir=tmp_path / f"{draw}-{''.join(order)}",
            )
            tables.append((result["Predictions/mse_n1"], result["Predictions/mae_n1"]))
    assert tables[0] == pytest.approx((t["mse_n1"], t["mae_n1"]))
    assert tables[0] == tables[1] and tables[2] == tables[3]


def test_an_empty_split_names_the_split_and_the_fix(tmp_path: Path) -> None:
    from datasets import DatasetDict, load_from_disk

    from cycle.core.stages import run_stage

    data = write_review5k(tmp_path / "review5k", {"train": [A], "test": [B]})
    for view in ("papers", "sft"):  # an empty test split as build_data writes one (a selection)
        train = load_from_disk(str(data / view / "hf" / "train"))
        empty = DatasetDict({"train": train, "test": train.select([])})
        empty.save_to_disk(str(tmp_path / "r5k" / view / "hf"))
    data = tmp_path / "r5k"
    args = [f"paths.root_dir={tmp_path}", f"review5k_dir={data}", "logger=csv"]
    with pytest.raises(ValueError, match=r"'test' split at .* is empty.*split=<name> \(train"):
        run_stage("evaluate_reviewer", args, run_dir=tmp_path / "run")
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({**_gold_record(A), "decision": ""}) + "\n")  # withdrawn
    with pytest.raises(ValueError, match=r"gold=.* has no papers to score.*split=train"):
        run_stage(
            "evaluate_reviewer", [*args, f"gold={gold}", "split=test"], run_dir=tmp_path / "g"
        )


def test_gold_records_need_no_paper_text_and_a_bad_one_is_rejected_alone(tmp_path: Path) -> None:
    """`evaluate_reviewer gold=` with a paper of 600 nested unclosed environments (once a
    RecursionError that ended the command), a review whose content is a string and a row that is
    not an object: the first is scored without parsing its text, the others are rejected."""
    from cycle.reviewer.predictions import load_gold

    deep = "\\begin{itemize}\\item " * 600 + "text"
    records = [
        {**_gold_record(A), "paper_context": "\\section{Intro}\n" + deep},
        {**_gold_record(B), "review": [{"id": "r0", "content": "6: marginally above"}]},
        ["not", "a", "record"],
        _gold_record(C),
    ]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    human = load_gold(str(gold), "test")
    assert human.ids == ["A", "C"] and human.ratings[0] == [r.rating for r in A.reviews]
    reasons = {r["id"]: r["reason"] for r in human.rejected}
    assert reasons["B"] == "no usable reviews"
    assert reasons["row 3"] == "not a JSON object"
    from cycle.core.stages import run_stage

    preds = _write_predictions(tmp_path / "preds.jsonl", STORED)
    run_dir = tmp_path / "run"
    args = [f"paths.root_dir={tmp_path}", f"gold={gold}", f"predictions={preds}", "logger=csv"]
    result = run_stage("evaluate_reviewer", args, run_dir=run_dir)
    assert result["Predictions/n_papers"] == 2
    rejected = (run_dir / "rejected.jsonl").read_text()
    assert "no usable reviews" in rejected and "not a JSON object" in rejected


def test_an_empty_split_is_one_line_on_the_command_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from datasets import DatasetDict, load_from_disk

    data = write_review5k(tmp_path / "review5k", {"train": [A], "test": [B]})
    for view in ("papers", "sft"):
        train = load_from_disk(str(data / view / "hf" / "train"))
        DatasetDict({"train": train, "test": train.select([])}).save_to_disk(
            str(tmp_path / "r5k" / view / "hf")
        )
    out = subprocess.run(
        [sys.executable, "-m", "cycle.core.cli", "evaluate_reviewer", f"paths.root_dir={tmp_path}"]
        + [f"review5k_dir={tmp_path / 'r5k'}", "logger=csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("cycle evaluate_reviewer: the 'test' split at ") and "split=" in line
