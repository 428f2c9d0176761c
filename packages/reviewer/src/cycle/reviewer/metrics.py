"""Reviewer evaluation of the paper's Table 1 (docs/formats.md §5): Proxy MSE/MAE, decision accuracy, macro F1.

Averaging is **per paper**: every error array holds one value per paper, and a paper with many
reviews weighs as much as one with two (for humans, each paper's errors are first averaged over
its reviews). Papers with fewer than two human ratings, or without a predicted rating, are
skipped and counted, never silently dropped.

Targets: with human ratings r_1..r_n and prediction p,
- human individual: for each i, r_i against mean(r without r_i);
- model "n-1", ``draw="expected"`` (default): the expectation over the held-out review, i.e. the
  mean over every i of the error of p against mean(r without r_i). It is exact and depends on
  nothing but the paper's own ratings (no seed, no row order);
- model "n-1", ``draw="sampled"``: the paper's protocol (§4.2 / Appendix E), one i per paper
  drawn from a generator seeded with ``(seed, hash of the paper id)``, so the draw depends
  neither on the paper's position nor on which other papers were skipped, and every model
  evaluated with the same seed faces the same targets;
- model "n": p against mean(r) (an easier target: its noise variance is sigma^2/n).

Every sum is ``math.fsum`` (correctly rounded), so a value does not depend on the order of the
papers or of a paper's ratings, down to the last bit: an order-free quantity prints the same
whatever the row order.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

Mode = Literal["n-1", "n"]
Draw = Literal["expected", "sampled"]
DRAWS = ("expected", "sampled")


@dataclass
class PaperErrors:
    """Per-paper squared and absolute errors, and how many papers were left out and why."""

    squared: np.ndarray
    absolute: np.ndarray
    papers: list[int]  # index of each evaluated paper in the input
    skipped_few_ratings: int = 0
    skipped_no_prediction: int = 0


@dataclass
class ProxyScores:
    """Proxy MSE / MAE over papers (None when no paper could be evaluated)."""

    mse: float | None
    mae: float | None
    n_papers: int
    skipped_few_ratings: int
    skipped_no_prediction: int


@dataclass
class DecisionScores:
    """Accuracy and macro F1 over the papers that have a predicted decision."""

    accuracy: float | None
    macro_f1: float | None
    n_papers: int  # papers with a prediction
    n_missing: int  # papers whose prediction is None

    @property
    def coverage(self) -> float | None:
        total = self.n_papers + self.n_missing
        return self.n_papers / total if total else None


def _valid(ratings: Sequence[float | None]) -> list[float]:
    return [float(r) for r in ratings if r is not None]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _leave_one_out_means(r: Sequence[float]) -> list[float]:
    """mean(r without r_i) for every i, from one correctly rounded sum (order-free)."""
    total = math.fsum(r)
    return [(total - x) / (len(r) - 1) for x in r]


def _errors(pairs: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Mean squared and mean absolute error of (value, target) pairs."""
    return _mean([(v - t) ** 2 for v, t in pairs]), _mean([abs(v - t) for v, t in pairs])


def held_out_index(n: int, paper_id: str, seed: int) -> int:
    """The review held out for the paper ``paper_id`` (of ``n`` ratings) in sampled n-1 mode."""
    digest = int.from_bytes(hashlib.sha256(str(paper_id).encode()).digest()[:8], "big")
    return int(np.random.default_rng([seed, digest]).integers(n))


def proxy_errors(
    human_ratings: Sequence[Sequence[float | None]],
    predicted: Sequence[float | None],
    mode: Mode = "n-1",
    seed: int = 0,
    draw: Draw = "expected",
    paper_ids: Sequence[str] | None = None,
) -> PaperErrors:
    """Errors of predicted ratings against the human consensus, one pair per evaluated paper.

    ``draw="sampled"`` (n-1 mode) needs ``paper_ids``: the held-out review is drawn per id.
    """
    if len(human_ratings) != len(predicted):
        raise ValueError(
            f"{len(human_ratings)} papers of human ratings but {len(predicted)} predictions"
        )
    if mode not in ("n-1", "n"):
        raise ValueError(f"unknown proxy mode {mode!r} (expected 'n-1' or 'n')")
    if draw not in DRAWS:
        raise ValueError(f"unknown n-1 draw {draw!r} (expected 'expected' or 'sampled')")
    if mode == "n-1" and draw == "sampled" and paper_ids is None:
        raise ValueError("a sampled n-1 draw needs the paper ids (it is seeded per paper id)")
    squared: list[float] = []
    absolute: list[float] = []
    papers: list[int] = []
    few = missing = 0
    for paper, (ratings, p) in enumerate(zip(human_ratings, predicted, strict=True)):
        r = _valid(ratings)
        if len(r) < 2:
            few += 1
            continue
        if p is None:
            missing += 1
            continue
        if mode == "n":
            targets = [_mean(r)]
        elif draw == "expected":
            targets = _leave_one_out_means(r)
        else:
            held_out = held_out_index(len(r), paper_ids[paper], seed)
            targets = [_mean(r[:held_out] + r[held_out + 1 :])]
        sq, ab = _errors([(float(p), t) for t in targets])
        squared.append(sq)
        absolute.append(ab)
        papers.append(paper)
    return PaperErrors(np.array(squared), np.array(absolute), papers, few, missing)


def human_individual_errors(human_ratings: Sequence[Sequence[float | None]]) -> PaperErrors:
    """Each human rating against the mean of the others, averaged over the paper's reviews."""
    squared: list[float] = []
    absolute: list[float] = []
    papers: list[int] = []
    few = 0
    for paper, ratings in enumerate(human_ratings):
        r = _valid(ratings)
        n = len(r)
        if n < 2:
            few += 1
            continue
        sq, ab = _errors(list(zip(r, _leave_one_out_means(r), strict=True)))
        squared.append(sq)
        absolute.append(ab)
        papers.append(paper)
    return PaperErrors(np.array(squared), np.array(absolute), papers, skipped_few_ratings=few)


def proxy_mse_mae(errors: PaperErrors) -> ProxyScores:
    """Proxy MSE and MAE: the mean over papers of ``proxy_errors`` or ``human_individual_errors``."""
    n = len(errors.papers)
    return ProxyScores(
        mse=_mean(errors.squared.tolist()) if n else None,
        mae=_mean(errors.absolute.tolist()) if n else None,
        n_papers=n,
        skipped_few_ratings=errors.skipped_few_ratings,
        skipped_no_prediction=errors.skipped_no_prediction,
    )


def decision_metrics(true: Sequence[bool], pred: Sequence[bool | None]) -> DecisionScores:
    """Accuracy and macro F1 of Accept (True) / Reject (False) predictions.

    Both labels always enter the F1 average (a class absent from truth and prediction scores 0),
    so a single-class prediction cannot silently turn macro F1 into one class's F1.
    """
    if len(true) != len(pred):
        raise ValueError(f"{len(true)} true decisions but {len(pred)} predictions")
    pairs = [(bool(t), bool(p)) for t, p in zip(true, pred, strict=True) if p is not None]
    missing = len(true) - len(pairs)
    if not pairs:
        return DecisionScores(None, None, 0, missing)
    y_true, y_pred = zip(*pairs, strict=True)
    return DecisionScores(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=float(
            f1_score(y_true, y_pred, labels=[False, True], average="macro", zero_division=0)
        ),
        n_papers=len(pairs),
        n_missing=missing,
    )


def rank_correlation(
    human_ratings: Sequence[Sequence[float | None]], predicted: Sequence[float | None]
) -> float | None:
    """Spearman's rho between predicted ratings and each paper's mean human rating, over the
    papers that have both; None when undefined (fewer than 3 papers, or a constant side)."""
    from scipy.stats import spearmanr

    pairs = [
        (float(p), _mean(r))
        for ratings, p in zip(human_ratings, predicted, strict=True)
        if p is not None and len(r := _valid(ratings))
    ]
    if len(pairs) < 3 or len({p for p, _ in pairs}) < 2 or len({h for _, h in pairs}) < 2:
        return None
    rho = spearmanr([p for p, _ in pairs], [h for _, h in pairs]).statistic
    return float(rho)
