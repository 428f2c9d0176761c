"""Typed records shared by every stage, serializable to and from ``datasets`` rows without loss.

Rows are plain JSON-compatible dicts (nested lists of dicts), so a ``datasets.Dataset`` built
from ``[r.to_row() for r in records]`` round-trips through ``from_row``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cycle.data.decision import is_accept

T = TypeVar("T")
# The rating scale of a review record when its venue does not say otherwise (ICLR, Review-5K).
DEFAULT_RATING_SCALE = (1.0, 10.0)


def _from_dict(cls: type[T], row: dict[str, Any]) -> T:
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in row.items() if k in names})


@dataclass
class Reference:
    """A cited work; ``bibtex`` is the entry as it appears in the prompt's bibliography."""

    key: str
    title: str = ""
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    venue: str = ""
    bibtex: str = ""
    paper_id: str = ""  # Semantic Scholar paper id when known
    doi: str = ""
    arxiv: str = ""

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Reference:
        return _from_dict(cls, row)


@dataclass
class Paper:
    """A paper as title, abstract and (heading, LaTeX) sections, with its references."""

    paper_id: str
    title: str = ""
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # graphics files the LaTeX includes
    authors: list[str] = field(default_factory=list)
    venue: str = ""
    year: int | None = None
    date: str = ""  # ISO date (YYYY-MM-DD) when known; drives chronological splits
    decision: str = ""
    source: str = ""  # where it came from (arXiv source folder, OpenReview forum, ...)
    text_source: str = ""  # tex | markdown | pdf | abstract (paper_text.TEXT_SOURCES)

    @property
    def text(self) -> str:
        """The paper as one LaTeX-ish document (what reviewers and detectors read)."""
        parts = [
            f"\\title{{{self.title}}}",
            f"\\begin{{abstract}}\n{self.abstract}\n\\end{{abstract}}",
        ]
        parts += [f"\\section{{{h}}}\n{body}" for h, body in self.sections]
        return "\n\n".join(parts)

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["sections"] = [{"heading": h, "latex": b} for h, b in self.sections]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Paper:
        row = dict(row)
        row["sections"] = [
            (s["heading"], s["latex"]) if isinstance(s, dict) else (s[0], s[1])
            for s in row.get("sections") or []
        ]
        row["references"] = [Reference.from_row(r) for r in row.get("references") or []]
        return _from_dict(cls, row)


@dataclass
class Review:
    """One review. Scores are parsed integers (None when absent); ``raw`` keeps the source strings."""

    summary: str = ""
    strengths: str = ""
    weaknesses: str = ""
    questions: str = ""
    soundness: float | None = None
    presentation: float | None = None
    contribution: float | None = None
    rating: float | None = None
    confidence: float | None = None
    flag_for_ethics_review: str = ""
    suggestions: str = ""
    raw: dict[str, str] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["raw"] = [{"field": k, "value": v} for k, v in self.raw.items()]
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Review:
        row = dict(row)
        raw = row.get("raw") or []
        row["raw"] = {r["field"]: r["value"] for r in raw} if isinstance(raw, list) else dict(raw)
        return _from_dict(cls, row)


@dataclass
class ReviewedPaper:
    """A paper with its human reviews, meta review and decision (a Review-5K row).
    ``rating_scale`` is the venue's (lowest, highest) rating: NeurIPS 2025 rates 1-6."""

    paper: Paper
    reviews: list[Review] = field(default_factory=list)
    meta_review: str = ""
    decision: str = ""
    rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE

    @property
    def accepted(self) -> bool:
        return is_accept(self.decision)

    @property
    def ratings(self) -> list[float]:
        return [r.rating for r in self.reviews if r.rating is not None]

    def to_row(self) -> dict[str, Any]:
        return {
            "paper": self.paper.to_row(),
            "reviews": [r.to_row() for r in self.reviews],
            "meta_review": self.meta_review,
            "decision": self.decision,
            "rating_scale": [float(v) for v in self.rating_scale],
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReviewedPaper:
        low, high = row.get("rating_scale") or DEFAULT_RATING_SCALE
        return cls(
            paper=Paper.from_row(row["paper"]),
            reviews=[Review.from_row(r) for r in row.get("reviews") or []],
            meta_review=row.get("meta_review", ""),
            decision=row.get("decision", ""),
            rating_scale=(float(low), float(high)),
        )
