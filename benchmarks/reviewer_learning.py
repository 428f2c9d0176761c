"""Does the reviewer learn from real reviews? Trained vs untrained SmolLM2 vs baselines.

    python benchmarks/reviewer_learning.py --data <review5k dir> --out <dir>              # CPU, < 60 min
    python benchmarks/reviewer_learning.py --size gpu --data <review5k dir> --out <dir>  # one H200

``<review5k dir>`` is what ``cycle build_data`` wrote (``runs/build_data/<name>/review5k``), e.g.
from a real export: ``cycle build_data data=openreview_export data.export_dir=<dir>``.

1. Trains the SmolLM2 reviewer with ``cycle train_reviewer experiment=reviewer_learning_<size>``
   (LoRA-GA, the short review target, a validation curve on papers held out of the train split).
2. On the same held-out test papers (the first ``test_papers`` of the test split), with the
   same input (the reviewer prompt, the paper cut to the prompt budget), compares:
   - trained and untrained SmolLM2, ratings read by scoring: the expected rating under the
     model's next-token distribution after the rating header (``cycle.reviewer.scoring``);
   - trained and untrained SmolLM2 writing full reviews for the first ``generations`` papers
     (parse rate; their rating and decision as ``cycle evaluate_reviewer`` reads them); the
     outputs are written as ``predictions-<model>.jsonl``, which
     ``cycle evaluate_reviewer predictions=<file> review5k_dir=<dir> max_papers=<generations>``
     scores to the same row;
   - the constant predictor (the training papers' mean rating);
   - TF-IDF + ridge regression on the same input text, fitted on the same training papers;
   - the human reviewers (each against the mean of the others).
   Columns: parse rate (generations), rating mass (scoring: the probability the model gives to
   writing a rating of the scale after the header, before renormalising), Proxy MSE / MAE (n-1,
   ``cycle.reviewer.evaluate``), Spearman's rho with
   the mean human rating, decision accuracy and macro F1 (a rating read by scoring or regression
   accepts at the scale's threshold, ``cycle.reviewer.scoring.accept_threshold``) beside the
   papers' base accept rate. Everything is on the data's rating scale.
3. Writes ``table.md`` / ``results.json`` and ``learning_curve.png`` (validation loss and MAE of
   the expected rating against steps, the constant predictor's MAE as a line) under ``--out``.

A rerun with the same ``--out`` reuses the trained model. ``--size tiny`` runs the same code on
the tiny random model in seconds (the test).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cycle.core.schemas import ModelConfig
    from cycle.reviewer.schemas import EvaluateReviewerConfig, TrainReviewerConfig


@dataclass(frozen=True)
class Size:
    preset: str  # conf/experiment/<preset>.yaml: the training run
    test_papers: int | None  # None: the whole test split
    generations: int  # test papers the models also write full reviews for
    max_new_tokens: int  # per generated review (the prompt budget is max_length minus this)


SIZES = {
    "tiny": Size("reviewer_learning_tiny", 4, 2, 48),
    "cpu": Size("reviewer_learning_cpu", 60, 6, 192),
    "gpu": Size("reviewer_learning_gpu", 200, 32, 320),
}


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _overrides(args: argparse.Namespace, size: Size) -> list[str]:
    return [
        f"experiment={size.preset}",
        f"review5k_dir={Path(args.data).resolve()}",
        "logger=csv",
        *([f"threads={args.threads}"] if args.threads else []),
        *args.set,
    ]


def _scored(
    model_cfg: ModelConfig, prompts: list[list[dict[str, str]]], scale: tuple[int, int]
) -> Any:
    import torch

    from cycle.core.models import load_causal_lm
    from cycle.reviewer.scoring import RatingScorer

    model, tokenizer = load_causal_lm(model_cfg)
    model.to("cuda" if torch.cuda.is_available() else "cpu")
    scorer = RatingScorer(model, tokenizer, scale)
    return [scorer.score(p) for p in prompts]


def _generated(
    cfg: EvaluateReviewerConfig, name_or_path: str | None, papers: list[str]
) -> list[Any]:
    """Full reviews of ``papers`` by the model at ``name_or_path`` (``cfg``: evaluate_reviewer's)."""
    from cycle.reviewer.infer import build_reviewer

    model = dataclasses.replace(cfg.model, name_or_path=name_or_path)
    reviewer = build_reviewer(model, cfg.backend, cfg.sampling, cfg.reviewer)
    return reviewer.review(papers)


def _write_predictions(path: Path, ids: list[str], results: list[Any]) -> None:
    from cycle.core.io import atomic_write_jsonl

    atomic_write_jsonl(
        path,
        [
            {"id": pid, "text": text, "finish_reason": "length" if cut else "stop"}
            for pid, r in zip(ids, results, strict=True)
            for text, cut in zip(r.texts, [p.truncated for p in r.parsed], strict=True)
        ],
    )


def _ridge(train_texts: list[str], train_y: list[float], test_texts: list[str]) -> list[float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2 if len(train_texts) > 20 else 1),
        RidgeCV(alphas=[0.1, 0.3, 1, 3, 10, 30, 100]),
    )
    model.fit(train_texts, train_y)
    return [float(y) for y in model.predict(test_texts)]


def _row(
    name: str,
    how: str,
    ratings: list[list[float]],
    accepted: list[bool],
    ids: list[str],
    predicted: list[float | None],
    decisions: list[bool | None],
    parse_rate: float | None = None,
) -> dict[str, Any]:
    from cycle.reviewer.evaluate import model_row
    from cycle.reviewer.metrics import rank_correlation

    row = model_row(
        name, ratings, accepted, predicted, decisions, parse_rate=parse_rate, paper_ids=ids
    ).to_dict()
    row.update(
        how=how,
        spearman=rank_correlation(ratings, predicted),
        base_accept_rate=sum(accepted) / len(accepted),
        papers=len(ids),
    )
    return row


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table_markdown(rows: list[dict[str, Any]], title: str) -> str:
    head = (
        "| Reviewer | Ratings read by | Papers | Parse rate | Rating mass | Proxy MSE (n−1) "
        "| Proxy MAE (n−1) | Spearman ρ | Accuracy | Macro F1 | Base accept rate |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    body = "".join(
        f"| {r['name']} | {r['how']} | {r['papers']} | {_fmt(r.get('parse_rate'))} "
        f"| {_fmt(r.get('rating_mass'))} "
        f"| {_fmt(r['mse_n1'])} | {_fmt(r['mae_n1'])} | {_fmt(r.get('spearman'))} "
        f"| {_fmt(r['accuracy'])} | {_fmt(r['macro_f1'])} | {_fmt(r['base_accept_rate'])} |\n"
        for r in rows
    )
    return f"**{title}**\n\n{head}{body}"


def curve_figure(history: list[dict[str, Any]], constant_mae: float | None, path: Path) -> Path:
    """Validation loss and expected-rating MAE against steps (small PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    left.plot(steps, [h["val/loss"] for h in history], marker="o")
    left.set(xlabel="step", ylabel="validation loss (review tokens)")
    right.plot(steps, [h["val/rating_mae"] for h in history], marker="o", label="SmolLM2 (scored)")
    if constant_mae is not None:
        right.axhline(constant_mae, color="grey", linestyle="--", label="constant (train mean)")
    right.set(xlabel="step", ylabel="MAE vs mean human rating")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from cycle.core.config import load_stage_config
    from cycle.core.models import load_tokenizer
    from cycle.core.stages import run_stage
    from cycle.data.review5k import reviewer_prompt
    from cycle.reviewer.evaluate import human_row
    from cycle.reviewer.infer import fit_paper
    from cycle.reviewer.scoring import accept_threshold, rating_scale
    from cycle.reviewer.train import load_review5k

    size = SIZES[args.size]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    overrides = _overrides(args, size)
    train_cfg: TrainReviewerConfig = load_stage_config("train_reviewer", overrides)
    if args.threads:
        torch.set_num_threads(args.threads)

    _log(f"training: cycle train_reviewer {' '.join(overrides)}")
    train_dir = out / "train"
    metrics = run_stage("train_reviewer", overrides, run_dir=train_dir)
    trained_at = time.perf_counter()
    _log(f"trained in {trained_at - started:.0f}s: {json.dumps(metrics)}")

    train = load_review5k(args.data, "papers", "train")
    train = train.select(range(int(metrics["papers"])))  # the papers trained on, in order
    test = load_review5k(args.data, "papers", "test")
    if size.test_papers is not None:
        test = test.select(range(min(size.test_papers, len(test))))
    scale = rating_scale(test)
    threshold = accept_threshold(scale)
    max_length = train_cfg.sft.max_length
    eval_cfg: EvaluateReviewerConfig = load_stage_config(
        "evaluate_reviewer",
        [
            *overrides,
            f"sampling.max_new_tokens={size.max_new_tokens}",
            f"reviewer.max_prompt_tokens={max_length - size.max_new_tokens}",
            f"reviewer.rating_scale=[{scale[0]},{scale[1]}]",
        ],
    )
    # The input every predictor reads: the reviewer prompt, the paper cut to the prompt budget
    # (the cut ``Reviewer.prompt`` makes before generating).
    reviewer_cfg = eval_cfg.reviewer
    tokenizer = load_tokenizer(eval_cfg.model)

    def prompt(text: str) -> list[dict[str, str]]:
        fitted = fit_paper(
            tokenizer,
            reviewer_prompt(text, reviewer_cfg.num_reviews, scale),
            reviewer_cfg.max_prompt_tokens,
            reviewer_cfg.paper_truncation,
        )
        if fitted is None:
            raise ValueError(f"no room for a paper in {reviewer_cfg.max_prompt_tokens} tokens")
        return fitted[0]

    test_prompts = [prompt(t) for t in test["paper_text"]]
    train_inputs = [prompt(t)[-1]["content"] for t in train["paper_text"]]
    test_inputs = [p[-1]["content"] for p in test_prompts]

    ids = list(test["id"])
    ratings = [list(r) for r in test["ratings"]]
    accepted = [bool(a) for a in test["accepted"]]
    train_y = [float(r) for r in train["mean_rating"]]
    constant = sum(train_y) / len(train_y)

    def by_rating(values: list[float | None]) -> list[bool | None]:
        return [None if v is None else v >= threshold for v in values]

    rows = [
        {
            **human_row(ratings, accepted, threshold, name="Humans (each vs the others)").to_dict(),
            "how": "their ratings",
            "spearman": None,
            "base_accept_rate": sum(accepted) / len(accepted),
            "papers": len(ids),
        },
        _row(
            "Constant (train mean)",
            "—",
            ratings,
            accepted,
            ids,
            [constant] * len(ids),
            by_rating([constant] * len(ids)),
        ),
    ]
    ridge = _ridge(train_inputs, train_y, test_inputs)
    rows.append(
        _row("TF-IDF + ridge", "regression", ratings, accepted, ids, ridge, by_rating(ridge))
    )
    models = {
        "trained": str(train_dir / "model"),
        "untrained": train_cfg.model.name_or_path,
    }
    scored = {}
    for label, path in models.items():
        _log(f"scoring {len(ids)} test papers with the {label} model")
        scores = _scored(
            dataclasses.replace(train_cfg.model, name_or_path=path), test_prompts, scale
        )
        expected = [s.expected for s in scores]
        scored[label] = scores
        rows.append(
            _row(
                f"SmolLM2 {label}",
                "scoring",
                ratings,
                accepted,
                ids,
                expected,
                by_rating(expected),
                parse_rate=None,
            )
        )
        rows[-1]["rating_mass"] = sum(s.mass for s in scores) / len(scores)
    n_gen = min(size.generations, len(ids))
    for label, path in models.items():
        _log(f"generating reviews of {n_gen} test papers with the {label} model")
        results = _generated(eval_cfg, path, list(test["paper_text"][:n_gen]))
        _write_predictions(out / f"predictions-{label}.jsonl", ids[:n_gen], results)
        outputs = sum(len(r.texts) for r in results)
        rows.append(
            _row(
                f"SmolLM2 {label}",
                "generation",
                ratings[:n_gen],
                accepted[:n_gen],
                ids[:n_gen],
                [r.reward for r in results],
                [r.accepted for r in results],
                parse_rate=(outputs - sum(r.n_unparseable for r in results)) / outputs,
            )
        )
    history = [
        json.loads(line) for line in (train_dir / "validation.jsonl").read_text().splitlines()
    ]
    val = load_review5k(args.data, "papers", "train")
    val = val.select(range(len(val) - train_cfg.validation.papers, len(val)))
    constant_val_mae = (
        sum(abs(constant - float(r)) for r in val["mean_rating"]) / len(val) if len(val) else None
    )
    curve_figure(history, constant_val_mae, out / "learning_curve.png")
    title = (
        f"{len(ids)} test papers (generations: the first {n_gen}), ratings {scale[0]}–{scale[1]}, "
        f"accept at ≥ {threshold}; trained on {metrics['papers']} papers, "
        f"{metrics['steps']} steps"
    )
    markdown = table_markdown(rows, title)
    results = {
        "size": args.size,
        "data": str(args.data),
        "scale": list(scale),
        "accept_threshold": threshold,
        "train": metrics,
        "constant": constant,
        "validation": history,
        "constant_validation_mae": constant_val_mae,
        "rows": rows,
        "seconds": {
            "train": round(trained_at - started),
            "total": round(time.perf_counter() - started),
        },
    }
    (out / "table.md").write_text(markdown + "\n", encoding="utf-8")
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(markdown)
    _log(f"done in {time.perf_counter() - started:.0f}s; {out}/table.md, learning_curve.png")
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="cpu")
    parser.add_argument("--data", required=True, help="a Review-5K dir written by build_data")
    parser.add_argument("--out", required=True, help="output folder (a rerun reuses its model)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--set", action="append", default=[], help="one more Hydra override (repeatable)"
    )
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    main(sys.argv[1:])
