"""Decision thresholds for the Fast-DetectGPT criterion, set on human text at a target FPR.

The criterion behaves like a z-statistic whose systematic shifts grow with sqrt(length), so a
single threshold is only right for one length regime; the length-aware option keeps one
threshold per token-length bucket (falling back to the global one where a bucket has too few
human texts to support the target FPR). The probability is for display only: decisions use the
raw criterion against the threshold.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

from cycle.core.io import atomic_write_json

__all__ = ["Calibration", "LengthBucket", "calibrate", "threshold_at_fpr", "windowing"]


def windowing(
    window: int, context: int, max_tokens: int | None, first_token: str
) -> dict[str, Any]:
    """The scoring settings a criterion's distribution depends on (besides the models)."""
    return {
        "window": int(window),
        "context": int(context),
        "max_tokens": max_tokens,
        "first_token": first_token,
    }


def threshold_at_fpr(human_scores: Sequence[float], fpr: float) -> float:
    """The smallest observed human score t with #(human > t) <= floor(fpr * n).

    A text is flagged as machine-generated when its score is strictly above the threshold, so
    on the calibration set the false-positive rate is at most ``fpr`` (exactly floor(fpr*n)/n
    when scores are distinct).
    """
    scores = np.sort(np.asarray([s for s in human_scores if math.isfinite(s)], dtype=float))
    if scores.size == 0:
        raise ValueError("no finite human scores to calibrate on")
    if not 0.0 <= fpr < 1.0:
        raise ValueError(f"fpr must be in [0, 1), got {fpr}")
    allowed = math.floor(fpr * scores.size + 1e-9)
    return float(scores[scores.size - 1 - allowed])


def _stats(scores: np.ndarray) -> dict[str, float]:
    return {
        "n": int(scores.size),
        "mean": float(scores.mean()),
        "std": float(scores.std(ddof=1)) if scores.size > 1 else 0.0,
        "min": float(scores.min()),
        "max": float(scores.max()),
        "q50": float(np.quantile(scores, 0.5)),
        "q90": float(np.quantile(scores, 0.9)),
        "q99": float(np.quantile(scores, 0.99)),
    }


@dataclass
class LengthBucket:
    """Human texts with ``low <= n_tokens < high`` and their own threshold (None: use global)."""

    low: int
    high: int | None
    threshold: float | None
    human: dict[str, float]

    def contains(self, n_tokens: int) -> bool:
        return n_tokens >= self.low and (self.high is None or n_tokens < self.high)


@dataclass
class Calibration:
    """A threshold for one scoring model, with the human statistics it was set on."""

    model: str
    target_fpr: float
    threshold: float
    human: dict[str, float]
    buckets: list[LengthBucket] = field(default_factory=list)
    # Machine statistics, when known, only feed the display probability.
    machine: dict[str, float] | None = None
    method: str = "fast-detect-gpt analytic criterion; machine if criterion > threshold"
    # How texts were scored (window, context, max_tokens, first_token): the criterion of a long
    # text depends on it, so a threshold holds only for the same windowing.
    windowing: dict[str, Any] | None = None

    def check_windowing(self, windowing: dict[str, Any], source: str = "the calibration") -> None:
        """Refuse scores made with another windowing than this threshold was fitted with."""
        if self.windowing is None:
            raise ValueError(
                f"{source} does not record the windowing it was fitted with; recalibrate "
                "(detector.calibration_file=null) so that its threshold matches this scoring"
            )
        diff = {k: v for k, v in windowing.items() if self.windowing.get(k) != v}
        if diff:
            was = ", ".join(f"{k}={self.windowing.get(k)}" for k in diff)
            now = ", ".join(f"{k}={v}" for k, v in diff.items())
            keys = " ".join(
                f"detector.{k}={self.windowing.get(k)}" for k in diff if k != "first_token"
            )
            fix = f"set {keys}" if keys else "score with the calibration's tokenizer"
            raise ValueError(
                f"{source} was fitted with {was} but this run scores with {now}: {fix}, or "
                "recalibrate (detector.calibration_file=null)"
            )

    def threshold_for(self, n_tokens: int | None = None) -> float:
        if n_tokens is not None:
            for b in self.buckets:
                if b.contains(n_tokens) and b.threshold is not None:
                    return b.threshold
        return self.threshold

    def predict(self, scores: Sequence[float], n_tokens: Sequence[int] | None = None) -> np.ndarray:
        """True where a score is above its (length bucket's) threshold."""
        lengths = n_tokens if n_tokens is not None else [None] * len(scores)
        return np.array(
            [s > self.threshold_for(n) for s, n in zip(scores, lengths, strict=True)], dtype=bool
        )

    def probability(self, score: float) -> float:
        """P(machine) for display only, never for decisions.

        With machine statistics: the Fast-DetectGPT two-Gaussian posterior (equal priors), set
        to 0 below the human mean to remove its spurious left tail. Without: the human CDF at
        the score, i.e. one minus the human-tail p-value.
        """
        mu0, sd0 = self.human["mean"], max(self.human["std"], 1e-6)
        if self.machine is None:
            return float(norm.cdf(score, mu0, sd0))
        if score < mu0:
            return 0.0
        mu1, sd1 = self.machine["mean"], max(self.machine["std"], 1e-6)
        p0, p1 = norm.pdf(score, mu0, sd0), norm.pdf(score, mu1, sd1)
        return float(p1 / (p0 + p1)) if p0 + p1 > 0 else float(score > mu1)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        data = dict(data)
        data["buckets"] = [LengthBucket(**b) for b in data.get("buckets") or []]
        return cls(**data)

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Calibration:
        return cls.from_dict(json.loads(Path(path).read_text()))


def calibrate(
    model: str,
    human_scores: Sequence[float],
    target_fpr: float = 0.01,
    human_lengths: Sequence[int] | None = None,
    length_edges: Sequence[int] = (),
    machine_scores: Sequence[float] | None = None,
    windowing: dict[str, Any] | None = None,
) -> Calibration:
    """Threshold at ``target_fpr`` on human scores; per length bucket when ``length_edges`` is set.

    A bucket gets its own threshold only if it holds at least ceil(1 / target_fpr) human texts
    (fewer cannot resolve the FPR); otherwise it uses the global threshold.
    """
    scores = np.asarray(human_scores, dtype=float)
    finite = np.isfinite(scores)
    buckets: list[LengthBucket] = []
    if length_edges:
        if human_lengths is None:
            raise ValueError("length buckets need the human texts' token counts")
        lengths = np.asarray(human_lengths)
        edges = [0, *sorted(length_edges)]
        min_n = math.ceil(1 / target_fpr) if target_fpr > 0 else 1
        for lo, hi in zip(edges, [*edges[1:], None], strict=True):
            sel = finite & (lengths >= lo) & (True if hi is None else lengths < hi)
            bucket_scores = scores[sel]
            threshold = (
                threshold_at_fpr(bucket_scores, target_fpr) if bucket_scores.size >= min_n else None
            )
            stats = _stats(bucket_scores) if bucket_scores.size else {"n": 0}
            buckets.append(LengthBucket(low=lo, high=hi, threshold=threshold, human=stats))
    machine = None
    if machine_scores is not None:
        m = np.asarray(machine_scores, dtype=float)
        m = m[np.isfinite(m)]
        machine = _stats(m) if m.size else None
    return Calibration(
        model=model,
        target_fpr=target_fpr,
        threshold=threshold_at_fpr(scores[finite], target_fpr),
        human=_stats(scores[finite]),
        buckets=buckets,
        machine=machine,
        windowing=dict(windowing) if windowing is not None else None,
    )
