"""The reviewer learning benchmark's parts: the short target, rating scoring, the validation
curve, and benchmarks/reviewer_learning.py end to end on the tiny model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.factories.review5k import reviewed_paper, write_review5k

# One worker runs the module: two tests share the benchmark run of the module-scoped fixture.
pytestmark = pytest.mark.xdist_group("reviewer_learning")


def _row(pid: str, ratings: list[float], decision: str) -> dict:
    from cycle.data.review5k import review5k_row

    return review5k_row(reviewed_paper(pid, ratings, decision, words=5))


def test_short_target_is_a_review_document_with_each_rating_first() -> None:
    from cycle.reviewer.format import parse_review
    from cycle.reviewer.train import short_review_messages

    row = _row("p1", [2, 5, 3, 4], "Accept (poster)")
    row["reviews"][1]["rating"] = None  # an unrated review is left out
    messages = short_review_messages(row, words=2)
    target = messages[-1]["content"]
    assert target.startswith("## Rating\n\n")
    assert "review opinions" in messages[0]["content"] and "**3**" in messages[0]["content"]
    parsed = parse_review(target)
    assert sorted(parsed.ratings) == [2, 3, 4]
    assert [r.summary for r in parsed.review_set.reviews] == ["A summary"] * 3
    assert parsed.decision == "Accept" and parsed.review_set.meta_review == "Meta review"
    # the order is drawn per paper id (not lowest first), the same on every call
    assert short_review_messages(row, words=2) == messages
    orders = {
        tuple(
            parse_review(
                short_review_messages(_row(f"q{i}", [1, 2, 3, 4], "Reject"))[-1]["content"]
            ).ratings
        )
        for i in range(8)
    }
    assert len(orders) > 1


def test_accept_threshold_and_scale() -> None:
    from cycle.reviewer.scoring import accept_threshold, rating_scale

    assert accept_threshold((1, 10)) == 6 and accept_threshold((1, 6)) == 4
    assert rating_scale([{"id": "a"}]) == (1, 10)
    assert rating_scale([{"rating_scale": [1, 6]}, {"rating_scale": [1, 6]}]) == (1, 6)
    with pytest.raises(ValueError, match="2 rating scales"):
        rating_scale([{"rating_scale": [1, 6]}, {"rating_scale": [1, 10]}])


def test_rank_correlation() -> None:
    from cycle.reviewer.metrics import rank_correlation

    humans = [[1, 2], [3, 4], [5, 6], [7, 8]]
    assert rank_correlation(humans, [1, 2, 3, 4]) == pytest.approx(1.0)
    assert rank_correlation(humans, [4, 3, 2, None]) == pytest.approx(-1.0)
    assert rank_correlation(humans, [5, 5, 5, 5]) is None  # a constant has no rank order


def test_expected_rating_matches_scoring_each_candidate_in_full(tiny_lm) -> None:
    """The cached, batched candidate pass gives what one full forward pass per rating gives."""
    import torch

    from cycle.core.chat import render_prompt
    from cycle.reviewer.scoring import RATING_HEADER, RatingScorer

    model, tokenizer = tiny_lm
    prompt = [
        {"role": "system", "content": "Review the paper."},
        {"role": "user", "content": "A paper about attention and 10 datasets."},
    ]
    scorer = RatingScorer(model, tokenizer, (1, 10))
    score = scorer.score(prompt)
    prefix = render_prompt(tokenizer, prompt) + RATING_HEADER
    n = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
    probs = []
    with torch.no_grad():
        for v in range(1, 11):
            ids = tokenizer(prefix + str(v), add_special_tokens=False)["input_ids"]
            logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), -1)
            lp = sum(float(logp[j - 1, ids[j]]) for j in range(n, len(ids)))
            digit = float(logp[-1].exp()[scorer.digit_start].sum())
            probs.append(torch.tensor(lp).exp().item() * (1 - digit))
    expected = sum(v * p for v, p in zip(range(1, 11), probs, strict=True)) / sum(probs)
    assert score.expected == pytest.approx(expected, rel=1e-4)
    assert score.mass == pytest.approx(sum(probs), rel=1e-4)
    assert score.loss is None


def test_a_conversation_gets_its_loss_and_the_same_rating_from_one_pass(tiny_lm) -> None:
    from cycle.reviewer.scoring import RatingScorer
    from cycle.reviewer.train import short_review_messages

    model, tokenizer = tiny_lm
    messages = short_review_messages(_row("p2", [3, 6], "Reject"), words=3)
    scorer = RatingScorer(model, tokenizer, (1, 10))
    full = scorer.score(messages)
    alone = scorer.score(messages[:-1])
    assert full.loss is not None and full.loss > 0
    # the prompt alone (a different num_reviews count is not involved: same messages) agrees
    assert full.expected == pytest.approx(alone.expected, rel=1e-4)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("learning")
    decisions = ["Reject", "Accept (poster)"]
    train = [
        reviewed_paper(f"t{i}", [1 + i % 5, 2 + i % 5], decisions[i % 2], words=20)
        for i in range(8)
    ]
    test = [
        reviewed_paper(f"e{i}", [2 + i, 3 + i, 4], decisions[i % 2], words=20) for i in range(4)
    ]
    data = write_review5k(root / "review5k", {"train": train, "test": test})
    path = Path(__file__).parents[2] / "benchmarks" / "reviewer_learning.py"
    spec = importlib.util.spec_from_file_location("reviewer_learning", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    sets = [f"paths.root_dir={root}", "model.tiny.tokenizer_files=[]"]
    out = root / "out"
    argv = ["--size", "tiny", "--data", str(data), "--out", str(out)]
    results = module.main([*argv, *[a for s in sets for a in ("--set", s)]])
    return {"root": root, "data": data, "out": out, "results": results}


def test_benchmark_compares_every_predictor_on_the_same_papers(benchmark: dict) -> None:
    results, out = benchmark["results"], benchmark["out"]
    rows = {(r["name"], r["how"]): r for r in results["rows"]}
    assert set(rows) == {
        ("Humans (each vs the others)", "their ratings"),
        ("Constant (train mean)", "—"),
        ("TF-IDF + ridge", "regression"),
        ("SmolLM2 trained", "scoring"),
        ("SmolLM2 untrained", "scoring"),
        ("SmolLM2 trained", "generation"),
        ("SmolLM2 untrained", "generation"),
    }
    assert results["train"]["papers"] == 6  # 8 train papers, the last 2 held out
    assert results["constant"] == pytest.approx(19 / 6)  # the 6 training papers' mean rating
    for key in [("Constant (train mean)", "—"), ("TF-IDF + ridge", "regression")]:
        assert rows[key]["papers"] == 4 and rows[key]["mae_n1"] is not None
    scored = rows[("SmolLM2 trained", "scoring")]
    assert scored["n_papers"] == 4 and scored["mae_n1"] is not None  # every paper got a rating
    assert rows[("Constant (train mean)", "—")]["spearman"] is None
    assert rows[("SmolLM2 trained", "generation")]["papers"] == 2
    assert 0 <= rows[("SmolLM2 trained", "generation")]["parse_rate"] <= 1
    assert all(r["base_accept_rate"] is not None for r in results["rows"])
    steps = [h["step"] for h in results["validation"]]
    assert steps[0] == 0 and steps[-1] == results["train"]["steps"] and len(steps) >= 3
    assert all(h["val/loss"] > 0 and h["val/rating_mae"] is not None for h in results["validation"])
    # training lowers the loss on held-out reviews
    assert results["validation"][-1]["val/loss"] < results["validation"][0]["val/loss"]
    assert (out / "learning_curve.png").stat().st_size > 1000
    table = (out / "table.md").read_text()
    assert "| TF-IDF + ridge | regression | 4 |" in table


def test_evaluate_reviewer_scores_the_predictions_file_to_the_generation_row(
    benchmark: dict,
) -> None:
    from cycle.core.stages import run_stage

    out = benchmark["out"]
    row = next(
        r
        for r in benchmark["results"]["rows"]
        if r["name"] == "SmolLM2 trained" and r["how"] == "generation"
    )
    metrics = run_stage(
        "evaluate_reviewer",
        [
            f"paths.root_dir={benchmark['root']}",
            f"predictions={out / 'predictions-trained.jsonl'}",
            f"review5k_dir={benchmark['data']}",
            "max_papers=2",
            "logger=csv",
        ],
        run_dir=benchmark["root"] / "evaluate",
    )
    label = "Predictions"
    for key in ("mse_n1", "mae_n1", "accuracy", "macro_f1", "parse_rate"):
        if row[key] is None:
            assert f"{label}/{key}" not in metrics
        else:
            assert metrics[f"{label}/{key}"] == pytest.approx(row[key])
    lines = (out / "predictions-trained.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["e0", "e1"]


@pytest.mark.parametrize("size", ["cpu", "gpu"], ids=["cpu-size", "gpu-size"])  # not the gpu mark
def test_benchmark_presets_compose_on_smollm2(size: str, tmp_path: Path) -> None:
    """The CPU and GPU sizes train SmolLM2 with LoRA-GA on the short target; the GPU one in bf16
    and stopped after 4 minutes of training (it runs only on the device machine). The benchmark
    composes evaluate_reviewer with the same preset."""
    from cycle.core.config import load_stage_config

    overrides = [f"experiment=reviewer_learning_{size}", f"paths.root_dir={tmp_path}"]
    cfg = load_stage_config("train_reviewer", [*overrides, "review5k_dir=x"])
    assert load_stage_config("evaluate_reviewer", overrides).model.name == "smollm2_135m"
    assert cfg.model.name == "smollm2_135m" and cfg.peft.method == "lora_ga"
    assert cfg.target == "short" and cfg.validation.papers > 0
    if size == "gpu":
        assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.max_time == "00:00:04:00"
        assert cfg.sft.max_length == 8192 and cfg.max_examples is None
    else:
        assert cfg.trainer.accelerator == "cpu" and cfg.sft.max_length <= 1024


def test_the_prompt_names_the_reviewer_rating_scale() -> None:
    from cycle.reviewer.infer import Reviewer
    from cycle.reviewer.schemas import ReviewerConfig
    from tests.factories.generators import ScriptedGenerator

    generator = ScriptedGenerator.__new__(ScriptedGenerator)
    generator.tokenizer = None
    on_six = Reviewer(generator, config=ReviewerConfig(rating_scale=[1, 6])).prompt("A paper.")
    default = Reviewer(generator).prompt("A paper.")
    assert "Score 1-6," in on_six[0][0]["content"] and "Score 1-10," in default[0][0]["content"]


@pytest.mark.parametrize(
    ("scales", "mse", "normalised"),
    [(((1, 6), (1, 6)), 4.0, False), (((1, 6), (1, 10)), (12.96 + 4.0) / 2, True)],
    ids=["one-venue", "mixed-venues"],
)
def test_evaluate_reviewer_scores_on_the_rows_scale(
    tmp_path: Path, scales, mse, normalised
) -> None:
    """One venue: its own scale (a NeurIPS 2025 human votes Accept from 4, the prompt says 1-6);
    mixed venues: every rating rescaled to 1-10, and the table says so."""
    from cycle.core.stages import run_stage

    papers = [
        reviewed_paper("a", [2, 4], "Accept (poster)"),
        reviewed_paper("b", [3, 5], "Reject"),
    ]
    for paper, scale in zip(papers, scales, strict=True):
        paper.rating_scale = scale
    data = write_review5k(tmp_path / "review5k", {"test": papers})
    predictions = tmp_path / "predictions.jsonl"
    review = "## Rating\n\n4\n\n## Summary\n\nFine.\n\n## Meta Review\n\nOk.\n\n## Paper Decision\n\nAccept"
    predictions.write_text(
        "\n".join(json.dumps({"id": pid, "text": review}) for pid in ("a", "b")) + "\n"
    )
    run_dir = tmp_path / "run"
    metrics = run_stage(
        "evaluate_reviewer",
        [
            f"paths.root_dir={tmp_path}",
            f"predictions={predictions}",
            f"review5k_dir={data}",
            "logger=csv",
        ],
        run_dir=run_dir,
    )
    assert metrics["Human individual/mse_n1"] == pytest.approx(mse)
    table = (run_dir / "table1.md").read_text()
    assert ("normalised to 1–10" in table) == normalised
    assert ("not comparable" in table) == (not normalised)  # the paper's 1-10 numbers
    if not normalised:  # votes at >= 4 on 1-6: a accepted (4 votes yes, 2 no), b rejected (5 yes)
        assert metrics["Human individual/accuracy"] == pytest.approx(1 / 2)
