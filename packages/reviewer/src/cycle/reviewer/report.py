"""The reviewer report: Table 1 as markdown, score-distribution figure, W&B logging."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from cycle.core.io import save_figure
from cycle.data.review_text import format_number
from cycle.reviewer.evaluate import PAPER_TABLE1, Table1Row

COLUMNS = (
    "Proxy MSE (n−1)",
    "Proxy MAE (n−1)",
    "Proxy MSE (n)",
    "Proxy MAE (n)",
    "Decision acc.",
    "Macro F1",
)

# Per-paper scores of a review set: (min, max, mean) rating, or None when nothing was read.
PaperScores = tuple[float, float, float] | None


def _num(value: float | None, scale: float = 1.0, suffix: str = "") -> str:
    """Two decimals, half up, of the value first rounded to 10 decimals, so that float noise
    in the last bits (1.8749999999999998 for 1.875) cannot move the printed digit."""
    if value is None:
        return "—"
    value *= scale
    if not math.isfinite(value):
        return f"{value}{suffix}"
    cell = Decimal(f"{value:.10f}").quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{cell}{suffix}"


def _cells(row: Table1Row | Mapping[str, Any]) -> list[str]:
    get = row.get if isinstance(row, Mapping) else lambda k: getattr(row, k)
    return [
        _num(get("mse_n1")),
        _num(get("mae_n1")),
        _num(get("mse_n")),
        _num(get("mae_n")),
        _num(get("accuracy"), 100, "%"),
        _num(get("macro_f1"), 100),
    ]


def table1_markdown(
    rows: Sequence[Table1Row],
    title: str = "Review-5K test",
    draw: str = "expected",
    scale: Sequence[float] = (1, 10),
) -> str:
    """Table 1's shape: rows human individual then each model; the paper's numbers in a note
    (only for ratings on the paper's 1-10 scale: errors on another scale are not comparable)."""
    lines = [
        f"## Reviewer evaluation ({title}; Table 1 of the paper)",
        "",
        "| Reviewer | " + " | ".join(COLUMNS) + " | Papers | Parse rate |",
        "|---" * (len(COLUMNS) + 3) + "|",
    ]
    for row in rows:
        parse = "—" if row.parse_rate is None else f"{row.parse_rate:.0%}"
        lines.append(
            f"| {row.name} | " + " | ".join(_cells(row)) + f" | {row.n_papers} | {parse} |"
        )
    lines += [
        "",
        "Proxy errors are averaged per paper (papers with at least two human ratings; a paper the "
        "model gave no readable rating is left out of its row and counted below). n−1: the "
        "prediction (or one human rating) against the mean of the other human ratings, "
        + (
            "averaged over every choice of the held-out review (its exact expectation); "
            if draw == "expected"
            else "with the held-out review drawn per paper id from a seeded generator; "
        )
        + "n: against the mean of all of "
        "them. The human row scores each reviewer against the others, and each review as an "
        "Accept vote when its rating is at least the threshold, against the final decision.",
    ]
    low, high = (format_number(v) for v in scale)
    if (float(scale[0]), float(scale[1])) == (1.0, 10.0):
        lines += [
            "",
            "Paper's numbers (Review-5K test, 782 papers), for reference:",
            "",
            "| Reviewer | " + " | ".join(COLUMNS) + " |",
            "|---" * (len(COLUMNS) + 1) + "|",
        ]
        for name, ref in PAPER_TABLE1.items():
            lines.append(f"| {name} | " + " | ".join(_cells(ref)) + " |")
    else:
        lines += [
            "",
            f"Ratings are on this data's {low}–{high} scale: the paper's Table 1 (ICLR, 1–10) "
            "is not comparable and not shown.",
        ]
    skipped = [r for r in rows if r.skipped_no_prediction]
    if skipped:
        lines += ["", "Papers without a readable predicted rating (left out of the proxy errors):"]
        lines += [f"- {r.name}: {r.skipped_no_prediction}" for r in skipped]
    return "\n".join(lines) + "\n"


def paper_scores(ratings: Sequence[float | None]) -> PaperScores:
    present = [float(r) for r in ratings if r is not None]
    if not present:
        return None
    return min(present), max(present), sum(present) / len(present)


def score_distribution_figure(
    human: Sequence[PaperScores], models: Mapping[str, Sequence[PaperScores]], path: str | Path
) -> Path:
    """Histograms of per-paper min / max / mean rating, human vs each model (paper Figs. 4–5)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    bins = np.arange(0.75, 10.76, 0.5)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    series = {"Human": human, **models}
    for j, label in enumerate(("min", "max", "mean")):
        ax = axes[j]
        for name, scores in series.items():
            values = [s[j] for s in scores if s is not None]
            if values:
                ax.hist(values, bins=bins, alpha=0.5, label=f"{name} (n={len(values)})")
        ax.set_title(f"{label} rating per paper")
        ax.set_xlabel("rating")
        ax.set_xlim(0.5, 10.5)
    axes[0].set_ylabel("papers")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def log_to_wandb(logger: Any, rows: Sequence[Table1Row], figure: str | Path) -> None:
    """The table and the figure in the W&B run of a ``WandbLogger``."""
    import wandb

    columns = ["reviewer", *COLUMNS, "papers", "parse_rate"]
    data = [
        [
            r.name,
            r.mse_n1,
            r.mae_n1,
            r.mse_n,
            r.mae_n,
            r.accuracy,
            r.macro_f1,
            r.n_papers,
            r.parse_rate,
        ]
        for r in rows
    ]
    logger.experiment.log(
        {
            "reviewer/table1": wandb.Table(columns=columns, data=data),
            "reviewer/score_distributions": wandb.Image(str(figure)),
        }
    )
