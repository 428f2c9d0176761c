"""Detection metrics (paper Table 6): AUROC, accuracy/F1 at the calibrated threshold, TPR at 1% FPR.

Labels are 1 = machine-generated, 0 = human; scores are criteria (higher = more machine-like).
Confidence intervals come from a seeded stratified bootstrap (humans and machines resampled
separately, so every replicate has both classes); the calibrated threshold stays fixed across
replicates, as a pre-registered threshold should.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_curve

from cycle.core.io import save_figure
from cycle.integrity.calibration import threshold_at_fpr
from cycle.integrity.texts import FORMATS, Row

__all__ = [
    "FormatResult",
    "auroc",
    "bootstrap_ci",
    "detection_metrics",
    "evaluate_by_format",
    "evaluate_format",
    "finite_mean",
    "plot_roc",
    "table6_markdown",
    "tpr_at_fpr",
]


def tpr_at_fpr(labels: Sequence[int], scores: Sequence[float], fpr: float = 0.01) -> float:
    """TPR at the threshold that lets at most ``fpr`` of these human scores through (strictly above)."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    t = threshold_at_fpr(s[y == 0], fpr)
    return float(np.mean(s[y == 1] > t))


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic (ties count one half)."""
    pos, neg = labels == 1, labels == 0
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def detection_metrics(
    labels: Sequence[int], scores: Sequence[float], thresholds: float | Sequence[float]
) -> dict[str, float]:
    """All metrics for one set; ``thresholds`` is one value or one per text (length buckets).

    Plain NumPy (checked against scikit-learn in the tests): the bootstrap calls this thousands
    of times, and scikit-learn's per-call validation would dominate the run time.
    """
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    pred = s > np.asarray(thresholds, dtype=float)
    pos, neg = y == 1, y == 0
    tp, fp = int((pred & pos).sum()), int((pred & neg).sum())
    fn = int(pos.sum()) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    both = pos.any() and neg.any()
    return {
        "auroc": auroc(y, s),
        "accuracy": float((pred == pos).mean()),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "precision": precision,
        "recall": recall,
        "fpr": fp / int(neg.sum()) if neg.any() else float("nan"),
        "tpr_at_1fpr": tpr_at_fpr(y, s, 0.01) if both else float("nan"),
    }


def bootstrap_ci(
    labels: Sequence[int],
    scores: Sequence[float],
    thresholds: float | Sequence[float],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    metrics: Callable[..., dict[str, float]] = detection_metrics,
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every metric over stratified bootstrap replicates."""
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    t = np.broadcast_to(np.asarray(thresholds, dtype=float), s.shape)
    rng = np.random.default_rng(seed)
    neg, pos = np.flatnonzero(y == 0), np.flatnonzero(y == 1)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):
        idx = np.concatenate([rng.choice(neg, neg.size), rng.choice(pos, pos.size)])
        for k, v in metrics(y[idx], s[idx], t[idx]).items():
            draws.setdefault(k, []).append(v)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    return {
        k: (float(np.nanquantile(v, lo)), float(np.nanquantile(v, hi))) for k, v in draws.items()
    }


@dataclass
class FormatResult:
    """Metrics of one format (paper, review, or all) with their bootstrap intervals."""

    format: str
    n_human: int
    n_machine: int
    threshold: float
    metrics: dict[str, float]
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    roc: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))

    def to_dict(self) -> dict:
        return {
            "format": self.format,
            "n_human": self.n_human,
            "n_machine": self.n_machine,
            "threshold": self.threshold,
            "metrics": self.metrics,
            "ci": {k: list(v) for k, v in self.ci.items()},
        }


def evaluate_format(
    name: str,
    labels: Sequence[int],
    scores: Sequence[float],
    thresholds: float | Sequence[float],
    n_boot: int = 1000,
    seed: int = 0,
) -> FormatResult:
    y, s = np.asarray(labels, dtype=int), np.asarray(scores, dtype=float)
    t = np.broadcast_to(np.asarray(thresholds, dtype=float), s.shape)
    both = 0 < y.sum() < y.size
    fpr, tpr = (roc_curve(y, s)[:2]) if both else (np.array([]), np.array([]))
    return FormatResult(
        format=name,
        n_human=int((y == 0).sum()),
        n_machine=int((y == 1).sum()),
        threshold=float(np.median(t)) if t.size else float("nan"),
        metrics=detection_metrics(y, s, t),
        ci=bootstrap_ci(y, s, t, n_boot=n_boot, seed=seed) if both and n_boot > 0 else {},
        roc=(fpr.tolist(), tpr.tolist()),
    )


def evaluate_by_format(
    rows: Sequence[Row], calibrated: Collection[str], n_boot: int, seed: int
) -> list[FormatResult]:
    """Results per calibrated format of scored rows (with their ``threshold``), plus ``all``
    when there are several."""
    results = []
    groups = [
        (fmt, [r for r in rows if r["format"] == fmt]) for fmt in FORMATS if fmt in calibrated
    ]
    if len(groups) > 1:
        groups.append(("all", [r for r in rows if r["format"] in calibrated]))
    for name, group in groups:
        if not group:
            continue
        results.append(
            evaluate_format(
                name,
                [r["label"] for r in group],
                [r["criterion"] for r in group],
                [r["threshold"] for r in group],
                n_boot=n_boot,
                seed=seed,
            )
        )
    return results


def finite_mean(values: Sequence[float]) -> float:
    """The mean of the finite values (NaN when there are none)."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _cell(r: FormatResult, key: str, pct: bool = True) -> str:
    scale = 100.0 if pct else 1.0
    v = r.metrics.get(key, float("nan"))
    if not np.isfinite(v):
        return "n/a"
    text = f"{v * scale:.2f}"
    if key in r.ci:
        lo, hi = r.ci[key]
        text += f" [{lo * scale:.2f}, {hi * scale:.2f}]"
    return text


def table6_markdown(results: Sequence[FormatResult], title: str, notes: Sequence[str] = ()) -> str:
    """A Table 6-shaped markdown table (one row per format) with 95% bootstrap intervals."""
    lines = [
        f"# {title}",
        "",
        "| Format | Human | Machine | Threshold | Accuracy (%) | F1 (%) | AUROC (%) | TPR@1%FPR (%) | FPR (%) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.format} | {r.n_human} | {r.n_machine} | {r.threshold:.3f} | {_cell(r, 'accuracy')} | "
            f"{_cell(r, 'f1')} | {_cell(r, 'auroc')} | {_cell(r, 'tpr_at_1fpr')} | {_cell(r, 'fpr')} |"
        )
    lines += ["", "Brackets: 95% stratified bootstrap intervals (threshold fixed).", ""]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def plot_roc(results: Sequence[FormatResult], path: str | os.PathLike, title: str = "") -> Path:
    """ROC curves (one per format) with a log-scaled FPR axis, saved as an image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    for r in results:
        fpr, tpr = r.roc
        if fpr:
            auroc = r.metrics.get("auroc", float("nan"))
            ax.plot(np.maximum(fpr, 1e-4), tpr, label=f"{r.format} (AUROC {auroc:.3f})")
    ax.plot([1e-4, 1], [1e-4, 1], ls=":", color="grey", lw=0.8)
    ax.axvline(0.01, ls="--", color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlim(1e-3 if all(len(r.roc[0]) < 1000 for r in results) else 1e-4, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false-positive rate (human flagged)")
    ax.set_ylabel("true-positive rate (machine flagged)")
    ax.set_title(title or "Fast-DetectGPT ROC")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=150)
