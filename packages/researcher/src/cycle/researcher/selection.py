"""Rejection sampling: best of N by a score, and the expected best-of-N curve (paper Figure 3).

Scores come from any callable ``score(papers) -> list[float | None]`` (the RL loop plugs the
reviewer in); ``None`` marks a paper that could not be scored and is never selected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import comb
from typing import Any, TypeVar

T = TypeVar("T")
ScoreFn = Callable[[Sequence[Any]], Sequence["float | None"]]


def best_index(scores: Sequence[float | None]) -> int | None:
    """Index of the highest score (the first on ties); None when nothing was scored."""
    scored = [(s, -i) for i, s in enumerate(scores) if s is not None]
    return -max(scored)[1] if scored else None


def best_of_n(groups: Sequence[Sequence[T]], score: ScoreFn) -> list[tuple[T | None, float | None]]:
    """For each group of candidates (the N samples of one prompt): the best and its score.

    All candidates are scored in one call, so a batched reviewer sees them together.
    """
    flat = [c for group in groups for c in group]
    scores = list(score(flat))
    if len(scores) != len(flat):
        raise ValueError(f"score returned {len(scores)} values for {len(flat)} papers")
    out: list[tuple[T | None, float | None]] = []
    start = 0
    for group in groups:
        chunk = scores[start : start + len(group)]
        i = best_index(chunk)
        out.append((None, None) if i is None else (group[i], chunk[i]))
        start += len(group)
    return out


def expected_max_of_n(scores: Sequence[float], n: int) -> float:
    """E[max of n draws without replacement] from ``k >= n`` scores.

    With scores sorted ascending s_1..s_k, s_i is the maximum of a random n-subset with
    probability C(i-1, n-1) / C(k, n).
    """
    k = len(scores)
    if not 1 <= n <= k:
        raise ValueError(f"need 1 <= n <= k, got n={n}, k={k}")
    ordered = sorted(scores)
    total = comb(k, n)
    return sum(s * comb(i, n - 1) for i, s in enumerate(ordered) if i >= n - 1) / total


def best_of_n_curve(
    groups: Sequence[Sequence[float | None]], ns: Sequence[int] = (1, 5, 10, 50, 100)
) -> dict[int, float]:
    """Mean over prompts of the expected best score among N samples, for each N in ``ns`` that
    every prompt has enough scored samples for, plus N = k (the fewest samples any prompt has)."""
    scored = [[s for s in g if s is not None] for g in groups]
    scored = [g for g in scored if g]
    if not scored:
        return {}
    k = min(len(g) for g in scored)
    points = sorted({n for n in ns if n <= k} | {k})
    return {n: sum(expected_max_of_n(g, n) for g in scored) / len(scored) for n in points}
