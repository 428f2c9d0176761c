"""One tolerant parser for every review layout (docs/formats.md §1–2).

``parse_review`` reads CycleReviewer variant A (``**********`` separators, level-2 fields),
variant B (``## Reviewer`` + level-3 fields) and DeepReviewer output (``\\boxed_simreviewers{``,
``\\boxed_verification{``, ``\\boxed_review{``, ``\\boxed_questions{``). It tolerates ``##`` vs
``###``, optional colons, values on the header line, bold markers, field-name case, extra
whitespace and CRLF. It returns what it could read plus ``problems``; it never raises on a
string and never invents a number it did not see. A DeepReviewer output cut inside its simulated
reviewers is ``incomplete``: the reviewers it finished are kept for reading, but it gives no
reward (it counts as unparsed), since their mean is not the rating the model was writing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cycle.data.decision import read_decision
from cycle.data.records import Review
from cycle.data.review_text import (
    SCORE_RANGES,
    ReviewSet,
    format_number,
    format_score,
    render_review_text,
    score_from_string,
)
from cycle.reviewer.review_sections import excerpt, split_sections

__all__ = ["ParsedReview", "ReviewSet", "parse_review", "render_review_text"]

Layout = Literal["A", "B", "deepreviewer", "unknown"]

_BOX_START = re.compile(r"\\boxed_([A-Za-z_]+)[ \t]*\{")
BLOCKS = ("simreviewers", "verification", "review", "questions")
_DOCUMENTED_BOX = re.compile(r"\\boxed_(?:" + "|".join(BLOCKS) + r")[ \t]*\{")
_CLOSING_LINE = re.compile(r"^[ \t]*\}[ \t]*$", re.MULTILINE)


@dataclass
class ParsedReview:
    """What ``parse_review`` could read from one reviewer output, and what it could not."""

    review_set: ReviewSet
    decision: Literal["Accept", "Reject"] | None = None
    decision_raw: str = ""
    layout: Layout = "unknown"
    final_review: Review | None = None  # DeepReviewer's \boxed_review
    preamble: str = ""  # DeepReviewer text before the first block
    verification: str = ""
    questions: list[str] = field(default_factory=list)  # DeepReviewer search mode
    other_blocks: dict[str, str] = field(default_factory=dict)  # undocumented \boxed_NAME{ blocks
    truncated: bool = False  # the generation hit its token limit
    # The text ends inside DeepReviewer's simulated reviewers: no reward is read from it.
    incomplete: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ratings(self) -> list[float]:
        return self.review_set.ratings

    @property
    def mean_rating(self) -> float | None:
        return self.review_set.mean_rating

    @property
    def min_rating(self) -> float | None:
        return self.review_set.min_rating

    @property
    def max_rating(self) -> float | None:
        return self.review_set.max_rating

    @property
    def accepted(self) -> bool | None:
        return None if self.decision is None else self.decision == "Accept"

    @property
    def final_rating(self) -> float | None:
        """DeepReviewer's final ``\\boxed_review`` rating (None for CycleReviewer documents)."""
        return None if self.final_review is None else self.final_review.rating

    def reward_rating(self, reward: str = "mean") -> float | None:
        """The rating a reward is made of: DeepReviewer's final review rating when it has one
        (the review its decision comes from), else the mean / min / max of the review set (for
        DeepReviewer, its simulated reviewers). None for an ``incomplete`` output: the reviewers
        that finished are not the review set the model was writing."""
        if self.incomplete:
            return None
        if self.final_rating is not None:
            return self.final_rating
        return getattr(self.review_set, f"{reward}_rating")


def _build_review(
    fields: dict[str, str], label: str, problems: list[str], cut: str | None = None
) -> Review:
    """A Review from field texts; scores parsed, range-checked, raw kept when not canonical.

    ``cut`` names a field the text ends in while the generation hit its token limit: its score
    may be a prefix of the real one (``6.`` of 6.5, ``1`` of 10), so it is not read.
    """
    review = Review()
    for name, body in fields.items():
        if name not in SCORE_RANGES:
            setattr(review, name, body)
            continue
        value = score_from_string(body.replace("*", ""))
        low, high = SCORE_RANGES[name]
        if name == cut and body.strip():
            problems.append(
                f"{label}: {name} {excerpt(body)} ends a truncated generation; not used"
            )
            value = None
        elif value is None:
            problems.append(f"{label}: unreadable {name} {excerpt(body)}")
        elif not low <= value <= high:
            problems.append(
                f"{label}: {name} {format_number(value)} outside {format_number(low)}-{format_number(high)}"
            )
            value = None
        setattr(review, name, value)
        if body != format_score(name, value):
            review.raw[name] = body
    for name in SCORE_RANGES:
        if name not in fields:
            problems.append(f"{label}: no {name}")
    return review


def _read_document(
    text: str, parsed: ParsedReview, *, deepreviewer: bool, at_end: bool = True
) -> list[Review]:
    """Reviews of a CycleReviewer document (or a DeepReviewer block); fills meta/decision.

    ``at_end``: the text runs to the end of the generation (its last field may be cut).
    """
    sections = split_sections(text)
    parsed.problems.extend(sections.problems)
    cut = sections.cut_field if parsed.truncated and at_end else None
    last = len(sections.reviews)
    reviews = [
        _build_review(fields, f"review {i}", parsed.problems, cut if i == last else None)
        for i, fields in enumerate(sections.reviews, start=1)
    ]
    if not deepreviewer:
        parsed.layout = "B" if sections.saw_reviewer_header else ("A" if reviews else "unknown")
        if not reviews:
            parsed.problems.append("no reviews")
        if sections.meta_review is None:
            parsed.problems.append("no meta review")
        parsed.review_set.meta_review = sections.meta_review or ""
        _set_decision(parsed, sections.decision)
    return reviews


def _set_decision(parsed: ParsedReview, raw: str | None) -> None:
    if not raw:
        parsed.problems.append("no decision")
        return
    parsed.decision_raw = raw
    parsed.review_set.decision = raw
    parsed.decision = read_decision(raw)
    if parsed.decision is None:
        parsed.problems.append(f"unreadable decision {excerpt(raw)}: no unambiguous verdict")


def _boxed_blocks(text: str, parsed: ParsedReview) -> tuple[dict[str, str], set[str]]:
    """Content of each ``\\boxed_NAME{`` block, up to its last ``}`` line before the next block,
    and the names of the blocks left open at the end of the text.

    Looking for the *last* closing line keeps JSON braces inside a block intact; a block
    without one (a truncated generation) runs to the next block or the end and is reported.
    Blocks docs/formats.md §2 does not document (``\\boxed_analysis{``) go to ``other_blocks``.
    """
    starts = list(_BOX_START.finditer(text))
    parsed.preamble = text[: starts[0].start()].strip()
    blocks: dict[str, str] = {}
    open_at_end: set[str] = set()
    for i, match in enumerate(starts):
        name = match.group(1)
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[match.end() : end]
        closings = list(_CLOSING_LINE.finditer(body))
        if closings:
            body = body[: closings[-1].start()]
        elif body.rstrip().endswith("}"):  # closed at the end of its last line
            body = body.rstrip()[:-1]
        else:
            parsed.problems.append(f"\\boxed_{name} block not closed")
            if end == len(text):
                open_at_end.add(name)
        if name not in BLOCKS:
            parsed.problems.append(f"undocumented \\boxed_{name} block kept apart")
            parsed.other_blocks[name] = body.strip()
            continue
        if name in blocks:
            parsed.problems.append(f"\\boxed_{name} repeated; the last one is used")
        blocks[name] = body.strip()
    return blocks, open_at_end


def _read_deepreviewer(text: str, parsed: ParsedReview) -> None:
    parsed.layout = "deepreviewer"
    blocks, open_at_end = _boxed_blocks(text, parsed)
    parsed.verification = blocks.get("verification", "")
    if "questions" in blocks:
        parsed.questions = [q.strip() for q in blocks["questions"].split("\n") if q.strip()]
    final: Review | None = None
    if "review" in blocks:
        sections = split_sections(blocks["review"])
        parsed.problems.extend(sections.problems)
        if sections.reviews:
            cut = sections.cut_field if parsed.truncated and "review" in open_at_end else None
            cut = cut if len(sections.reviews) == 1 else None
            final = _build_review(sections.reviews[0], "final review", parsed.problems, cut)
            if len(sections.reviews) > 1:
                parsed.problems.append(
                    "\\boxed_review holds more than one review; the first is used"
                )
        else:
            parsed.problems.append("\\boxed_review has no fields")
        parsed.review_set.meta_review = sections.meta_review or ""
        _set_decision(parsed, sections.decision)
    else:
        parsed.problems.append("no \\boxed_review block")
        parsed.problems.append("no decision")
    parsed.final_review = final
    if "simreviewers" in open_at_end:
        parsed.incomplete = True
        parsed.problems.append(
            "the output ends inside \\boxed_simreviewers: incomplete, no reward is read from it"
        )
    if "simreviewers" in blocks:
        reviews = _read_document(
            blocks["simreviewers"],
            parsed,
            deepreviewer=True,
            at_end="simreviewers" in open_at_end,
        )
        if not reviews:
            parsed.problems.append("\\boxed_simreviewers has no reviews")
        parsed.review_set.reviews = reviews
    elif final is not None:  # fast mode: the final review is the only review there is
        parsed.review_set.reviews = [final]


def parse_review(text: str, truncated: bool = False) -> ParsedReview:
    """Parse any reviewer output; never raises, never returns None (see module docstring).

    For DeepReviewer output the simulated reviewers are ``review_set.reviews`` (in fast mode,
    which has none, the final review is the only review), the final ``\\boxed_review`` is
    ``final_review`` and its ``## Decision:`` is the decision; ``reward_rating`` is the final
    review's rating. ``truncated``: the generation hit its token limit, so a score the text
    ends in is not read (it may be cut short: ``6.`` of 6.5).
    """
    parsed = ParsedReview(review_set=ReviewSet(), truncated=truncated)
    try:
        if not isinstance(text, str):
            parsed.problems.append(f"not a string: {type(text).__name__}")
            return parsed
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if _DOCUMENTED_BOX.search(text):
            _read_deepreviewer(text, parsed)
        else:
            parsed.review_set.reviews = _read_document(text, parsed, deepreviewer=False)
    except Exception as error:  # a parser bug must not crash a batch of rewards
        parsed.problems.append(f"parser error: {type(error).__name__}: {error}")
    return parsed
