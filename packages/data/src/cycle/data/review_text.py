"""The review document a CycleReviewer writes (docs/formats.md §1): the ``ReviewSet`` record and its renderer.

It lives in ``cycle.data`` because the Review-5K builder renders the reviewer's training target
here, and ``data`` cannot import ``reviewer``; the tolerant parser is ``cycle.reviewer.format``.
``score_from_string`` is the one rule for reading a score string (OpenReview values and model
output alike).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Literal

from cycle.data.decision import is_accept
from cycle.data.records import Review

Variant = Literal["A", "B"]

SEPARATOR = "**********"

SUBSCORE_WORDS = {1: "poor", 2: "fair", 3: "good", 4: "excellent"}

# ICLR 2024 wording.
RATING_LABELS = {
    1: "strong reject",
    3: "reject, not good enough",
    5: "marginally below the acceptance threshold",
    6: "marginally above the acceptance threshold",
    8: "accept, good paper",
    10: "strong accept, should be highlighted at the conference",
}

CONFIDENCE_LABELS = {
    1: "Your assessment is an educated guess. The submission is not in your area or the "
    "submission was difficult to understand. Math/other details were not carefully checked.",
    2: "You are willing to defend your assessment, but it is quite likely that you did not "
    "understand the central parts of the submission or that you are unfamiliar with some pieces "
    "of related work. Math/other details were not carefully checked.",
    3: "You are fairly confident in your assessment. It is possible that you did not understand "
    "some parts of the submission or that you are unfamiliar with some pieces of related work. "
    "Math/other details were not carefully checked.",
    4: "You are confident in your assessment, but not absolutely certain. It is unlikely, but not "
    "impossible, that you did not understand some parts of the submission or that you are "
    "unfamiliar with some pieces of related work.",
    5: "You are absolutely certain about your assessment. You are very familiar with the related "
    "work and checked the math/other details carefully.",
}

SCORE_FIELDS = ("soundness", "presentation", "contribution", "rating", "confidence")

# Inclusive ranges a parsed score must fall in.
SCORE_RANGES: dict[str, tuple[float, float]] = {
    "soundness": (1, 4),
    "presentation": (1, 4),
    "contribution": (1, 4),
    "rating": (1, 10),
    "confidence": (1, 5),
}

# (Review attribute, header title) in the order the reviewer writes them. ``suggestions``
# (DeepReviewer) is written only when non-empty; the others always.
REVIEW_FIELDS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("soundness", "Soundness"),
    ("presentation", "Presentation"),
    ("contribution", "Contribution"),
    ("strengths", "Strengths"),
    ("weaknesses", "Weaknesses"),
    ("suggestions", "Suggestions"),
    ("questions", "Questions"),
    ("flag_for_ethics_review", "Flag For Ethics Review"),
    ("rating", "Rating"),
    ("confidence", "Confidence"),
)
OPTIONAL_FIELDS = frozenset({"suggestions"})

# The whole leading number, which must not run on into a letter, a digit or a decimal comma /
# exponent: "6,5", "1e1" and "1O: strong accept" are unreadable, not 6, 1 and 1. Linear time:
# the lookahead is one or two characters.
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)(?![\w]|[.,]\d)")


def score_from_string(value: str | float | None) -> float | None:
    """The whole leading number of a score string, or None.

    ``"10: strong accept"`` is 10 (never the first character), ``"6.5"`` is 6.5, ``"3 good"`` is 3,
    ``"N/A"``, ``"6,5"``, ``"1e1"`` and ``"1O"`` are None. Numbers (OpenReview 2025+ stores plain
    ints) pass through as floats.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _LEADING_NUMBER.match(value)
    return float(match.group(1)) if match else None


def rescale(value: float, scale: Sequence[float], target: Sequence[float] = (1, 10)) -> float:
    """``value`` on ``scale`` (low, high) mapped linearly onto ``target``: 4 on 1-6 is 6.4 on 1-10."""
    low, high = scale
    new_low, new_high = target
    return new_low + (value - low) * (new_high - new_low) / (high - low)


def common_rating_scale(
    scales: Iterable[Sequence[float]],
) -> tuple[tuple[float, float], bool]:
    """The scale to compute rating metrics on, and whether it is a normalisation: the rows'
    own scale when they share one, else 1-10 (each rating ``rescale``d; label it as such)."""
    found = {(float(s[0]), float(s[1])) for s in scales}
    if len(found) == 1:
        return found.pop(), False
    return (1.0, 10.0), bool(found)


def format_number(value: float) -> str:
    """``6`` for integral values, ``6.5`` otherwise (what ``score_from_string`` reads back)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def format_score(name: str, value: float | None) -> str:
    """The canonical text of a score: ``"3 good"``, ``"6: marginally above ..."``, ``"4: You are ..."``.

    Values outside the labelled sets (decimals, 7 for a rating) are written as plain numbers.
    """
    if value is None:
        return ""
    number = format_number(value)
    key = int(value) if float(value).is_integer() else None
    if name in ("soundness", "presentation", "contribution") and key in SUBSCORE_WORDS:
        return f"{number} {SUBSCORE_WORDS[key]}"
    if name == "rating" and key in RATING_LABELS:
        return f"{number}: {RATING_LABELS[key]}"
    if name == "confidence" and key in CONFIDENCE_LABELS:
        return f"{number}: {CONFIDENCE_LABELS[key]}"
    return number


def score_text(review: Review, name: str) -> str:
    """The text written for one score: the kept raw string when it reads back to the same value.

    A raw string that disagrees with the parsed number is ignored, so the rendered document
    always parses back to the stored numbers.
    """
    value = getattr(review, name)
    raw = review.raw.get(name)
    if raw is not None and score_from_string(raw) == value:
        return raw
    return format_score(name, value)


@dataclass
class ReviewSet:
    """Several reviews of one paper, the meta review and the decision (one reviewer document)."""

    reviews: list[Review] = field(default_factory=list)
    meta_review: str = ""
    decision: str = ""

    @property
    def ratings(self) -> list[float]:
        return [r.rating for r in self.reviews if r.rating is not None]

    @property
    def mean_rating(self) -> float | None:
        return fmean(self.ratings) if self.ratings else None

    @property
    def min_rating(self) -> float | None:
        return min(self.ratings) if self.ratings else None

    @property
    def max_rating(self) -> float | None:
        return max(self.ratings) if self.ratings else None

    @property
    def accepted(self) -> bool:
        return is_accept(self.decision)

    def to_row(self) -> dict[str, Any]:
        return {
            "reviews": [r.to_row() for r in self.reviews],
            "meta_review": self.meta_review,
            "decision": self.decision,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReviewSet:
        return cls(
            reviews=[Review.from_row(r) for r in row.get("reviews") or []],
            meta_review=row.get("meta_review", ""),
            decision=row.get("decision", ""),
        )


def _render_one(review: Review, level: str, fields: Sequence[str] | None = None) -> str:
    titles = dict(REVIEW_FIELDS)
    blocks = []
    for name in fields if fields is not None else titles:
        title = titles[name]
        body = score_text(review, name) if name in SCORE_RANGES else getattr(review, name)
        if name in OPTIONAL_FIELDS and not body:
            continue
        blocks.append(f"{level} {title}\n\n{body}")
    return "\n\n".join(blocks)


def render_review_text(
    review_set: ReviewSet,
    variant: Variant = "A",
    fields: Sequence[str] | None = None,
    by_rating: bool = True,
) -> str:
    """Write the review document of docs/formats.md §1, reviews from lowest to highest rating.

    Variant A (8B/70B): level-2 fields, reviews separated by ``**********`` lines.
    Variant B (123B): each review opens with ``## Reviewer`` and has level-3 fields.
    The sort is stable; reviews without a rating go last. ``fields``: the Review attributes
    written, in this order (default: every field of ``REVIEW_FIELDS``); ``by_rating=False``
    keeps the reviews in their given order. ``parse_review`` reads fields in any order.
    """
    if variant not in ("A", "B"):
        raise ValueError(f"unknown review text variant {variant!r} (expected 'A' or 'B')")
    unknown = set(fields or ()) - {name for name, _ in REVIEW_FIELDS}
    if unknown:
        raise ValueError(f"unknown review fields {sorted(unknown)}")
    ordered = (
        sorted(
            review_set.reviews,
            key=lambda r: (r.rating is None, r.rating if r.rating is not None else 0),
        )
        if by_rating
        else list(review_set.reviews)
    )
    tail = (
        f"## Meta Review\n\n{review_set.meta_review}\n\n## Paper Decision\n\n{review_set.decision}"
    )
    if variant == "A":
        parts = [_render_one(r, "##", fields) for r in ordered]
        return f"\n\n{SEPARATOR}\n".join([*parts, tail])
    parts = [f"## Reviewer\n\n{_render_one(r, '###', fields)}" for r in ordered]
    return "\n\n".join([*parts, tail])
