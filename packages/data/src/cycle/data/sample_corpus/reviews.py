"""Ratings, reviews, decisions and meta reviews derived from a paper's knobs."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from cycle.data.sample_corpus.knobs import Knobs
from cycle.data.sample_corpus.reasons import (
    GENERIC_QUESTIONS,
    GENERIC_STRENGTHS,
    GENERIC_WEAKNESSES,
    REASONS,
    Reason,
)
from cycle.data.sample_corpus.section_context import text_context
from cycle.data.sample_corpus.spec import PaperSpec
from cycle.data.sample_corpus.text import fill, join_and, pick, plural

RATING_SCALE = (1, 3, 5, 6, 8, 10)
EMPHASES = ("rigor", "scope", "novelty", "clarity")


def emphasis_score(k: Knobs, emphasis: str) -> float:
    """How well the paper does on what a reviewer of this emphasis cares about, in [-1, 1]."""
    raw = {
        "rigor": (k.ablation + (k.n_seeds > 1) + k.error_bars) / 3,
        "scope": ((k.n_datasets - 1) / 4 + (k.n_baselines - 1) / 6 + k.n_extra_tables / 2) / 3,
        "novelty": ((k.novelty - 1) / 3 * 2 + (k.n_citations - 8) / 37) / 3,
        "clarity": ((k.clarity - 1) / 3 * 2 + k.limitations) / 3,
    }[emphasis]
    return 2 * raw - 1


def snap(x: float) -> int:
    return min(RATING_SCALE, key=lambda r: (abs(r - x), r))


def draw_ratings(rng: random.Random, q: float, emphases: list[str], k: Knobs) -> list[int]:
    """Ratings on the ICLR scale around ``q`` that disagree by 1 to 3 points."""
    cont = [
        q + rng.gauss(0, 0.5) + 0.7 * emphasis_score(k, e) + rng.gauss(0, 0.5) for e in emphases
    ]
    idx = [RATING_SCALE.index(snap(x)) for x in cont]
    center = sum(cont) / len(cont)
    while RATING_SCALE[max(idx)] - RATING_SCALE[min(idx)] > 3:
        far = max(range(len(idx)), key=lambda i: abs(RATING_SCALE[idx[i]] - center))
        idx[far] += 1 if RATING_SCALE[idx[far]] < center else -1
    if len(set(idx)) == 1:
        i = max(range(len(idx)), key=lambda j: abs(cont[j] - RATING_SCALE[idx[j]]))
        step = 1 if cont[i] > RATING_SCALE[idx[i]] else -1
        if not 0 <= idx[i] + step < len(RATING_SCALE):
            step = -step
        idx[i] += step
    return [RATING_SCALE[i] for i in idx]


@dataclass
class ReviewDraft:
    rating: int
    soundness: int
    presentation: int
    contribution: int
    confidence: int
    summary: str
    strengths: str
    weaknesses: str
    questions: str
    strength_ids: list[str]
    weakness_ids: list[str]


def review_context(rng: random.Random, spec: PaperSpec) -> dict[str, Any]:
    ctx = text_context(rng, spec)
    k = spec.knobs
    lost = [d for d, w in zip(spec.datasets, spec.wins(), strict=True) if not w]
    extra = ["computational cost", "hyperparameter sensitivity"][: k.n_extra_tables]
    ctx.update(
        {
            "M": spec.method,
            "bl_count": f"{plural(k.n_baselines, 'baseline')} {'is' if k.n_baselines == 1 else 'are'}",
            "lost_ds": lost[0].name if lost else "",
            "lost_winner": spec.best_baseline(lost[0]) if lost else "",
            "extra_desc": join_and(extra),
        }
    )
    return ctx


def _weighted_sample(
    rng: random.Random, items: list[Reason], weights: list[float], n: int
) -> list[Reason]:
    items, weights, out = list(items), list(weights), []
    while items and len(out) < n:
        i = rng.choices(range(len(items)), weights=weights)[0]
        out.append(items.pop(i))
        weights.pop(i)
    return out


def _format_points(rng: random.Random, points: list[str], style: str) -> str:
    if style == "bullets":
        return "\n".join(f"- {p}" for p in points)
    if style == "numbered":
        return "\n".join(f"{i}. {p}" for i, p in enumerate(points, 1))
    return " ".join(points)


def write_review(
    rng: random.Random, spec: PaperSpec, rating: int, emphasis: str, q: float
) -> ReviewDraft:
    k = spec.knobs
    ctx = review_context(rng, spec)
    wins = spec.wins()
    claim = (
        "consistent improvements over all baselines"
        if all(wins)
        else ("improvements on most benchmarks" if sum(wins) * 2 >= len(wins) else "mixed results")
    )
    summary = pick(
        rng,
        (
            "This paper proposes <Mp>, a method for <task> that targets <issue>. The key idea is <mech>. Experiments on <ds_list> against <bl_list> show <claim>.",
            "The authors study <issue> in <task> and introduce <Mp>, which works by <mech>. The method is evaluated on <nds> and compared with <nbl>; the paper reports <claim>.",
            "The submission tackles <problem>. It introduces <Mp>, combining the <comp_a> and the <comp_b>. Empirically, the paper reports <claim> on <ds_list>.",
        ),
        {
            **ctx,
            "claim": claim,
            "nds": plural(k.n_datasets, "dataset"),
            "nbl": plural(k.n_baselines, "baseline"),
        },
    )
    n_strengths = max(1, min(4, round(1 + (rating - 3) / 2.5 + rng.gauss(0, 0.5))))
    n_weaknesses = max(1, min(4, round(4 - (rating - 3) / 2.5 + rng.gauss(0, 0.5))))
    applicable = [r for r in REASONS if r.applies(spec)]
    weight = [3.0 if r.emphasis == emphasis else 1.0 for r in applicable]
    strengths = _weighted_sample(
        rng,
        [r for r in applicable if r.kind == "strength"],
        [w for r, w in zip(applicable, weight, strict=True) if r.kind == "strength"],
        n_strengths,
    )
    weaknesses = _weighted_sample(
        rng,
        [r for r in applicable if r.kind == "weakness"],
        [w for r, w in zip(applicable, weight, strict=True) if r.kind == "weakness"],
        n_weaknesses,
    )
    s_points = [pick(rng, r.texts, ctx) for r in strengths] or [pick(rng, GENERIC_STRENGTHS, ctx)]
    w_points = [pick(rng, r.texts, ctx) for r in weaknesses] or [pick(rng, GENERIC_WEAKNESSES, ctx)]
    if rng.random() < 0.25:
        w_points.append("Minor: " + pick(rng, GENERIC_WEAKNESSES, ctx))
    questions = [pick(rng, r.questions, ctx) for r in weaknesses if r.questions][:3]
    if len(questions) < 2:
        questions.append(pick(rng, GENERIC_QUESTIONS, ctx))
    style = rng.choice(("bullets", "numbered", "prose"))
    delta = rating - q
    soundness = (
        1.2
        + 0.9 * k.ablation
        + 0.5 * (k.n_seeds > 1)
        + 0.6 * k.error_bars
        + 0.3 * (k.n_baselines >= 4)
        + 0.2 * (k.n_datasets >= 3)
    )
    contribution = 1.0 + 0.6 * (k.novelty - 1) + 0.15 * (k.n_datasets - 1)
    return ReviewDraft(
        rating=rating,
        soundness=max(1, min(4, round(soundness + 0.15 * delta + rng.gauss(0, 0.4)))),
        presentation=max(1, min(4, round(k.clarity + 0.15 * delta + rng.gauss(0, 0.45)))),
        contribution=max(1, min(4, round(contribution + 0.15 * delta + rng.gauss(0, 0.4)))),
        confidence=rng.choices((2, 3, 4, 5), weights=(1, 4, 4, 1))[0],
        summary=summary,
        strengths=_format_points(rng, s_points, style),
        weaknesses=_format_points(rng, w_points, style),
        questions=_format_points(rng, questions, "numbered" if style == "prose" else style),
        strength_ids=[r.rid for r in strengths],
        weakness_ids=[r.rid for r in weaknesses],
    )


def decide(rng: random.Random, ratings: list[int]) -> str:
    score = sum(ratings) / len(ratings) + rng.gauss(0, 0.3)
    if score >= 7.9:
        return "Accept (oral)"
    if score >= 7.0:
        return "Accept (spotlight)"
    if score >= 5.5:
        return "Accept (poster)"
    return "Reject"


def meta_review(
    rng: random.Random,
    spec: PaperSpec,
    drafts: list[ReviewDraft],
    ratings: list[int],
    decision: str,
) -> dict[str, str]:
    ctx = review_context(rng, spec)
    by_id = {r.rid: r for r in REASONS}
    order = {r.rid: i for i, r in enumerate(REASONS)}

    def top(ids: list[str], n: int) -> list[str]:
        counts = Counter(ids)
        ranked = sorted(counts, key=lambda rid: (-counts[rid], order[rid]))[:n]
        return [fill(by_id[rid].meta, ctx) for rid in ranked]

    pros = top([i for d in drafts for i in d.strength_ids], 2) or ["the relevance of the problem"]
    cons = top([i for d in drafts for i in d.weakness_ids], 3) or ["minor presentation issues"]
    mean = sum(ratings) / len(ratings)
    opening = pick(
        rng,
        (
            "The paper proposes <Mp> for <task>, based on <mech>.",
            "This submission introduces <Mp>, which addresses <issue> by <mech>.",
        ),
        ctx,
    )
    text = (
        f"{opening} Reviewers appreciated {join_and(pros)}. The main concerns were {join_and(cons)}. "
        f"The final ratings are {', '.join(str(r) for r in sorted(ratings))} (mean {mean:.2f})."
    )
    if "accept" in decision.lower():
        text += f" Overall the strengths outweigh the weaknesses and I recommend acceptance. The authors should address {cons[0]} in the camera-ready version."
        higher = f"The paper is held back by {cons[0]}."
        lower = f"Reviewers agree on the value of {pros[0]}, and the concerns are not fundamental."
    else:
        text += f" In its current form the paper does not meet the bar for acceptance; addressing {join_and(cons[:2])} would make it considerably stronger."
        higher = f"The concerns about {join_and(cons[:2])} were not resolved during the discussion."
        lower = f"Despite {pros[0]}, the paper is not ready for publication."
    return {
        "metareview": text,
        "justification_for_why_not_higher_score": higher,
        "justification_for_why_not_lower_score": lower,
    }
