"""One tolerant parser for every review layout (docs/formats.md §1–2).

``parse_review`` reads CycleReviewer variant A (``**********`` separators, level-2 fields),
variant B (``## Reviewer`` + level-3 fields) and DeepReviewer output (``\\boxed_simreviewers{``,
``\\boxed_verification{``, ``\\boxed_review{``, ``\\boxed_questions{``). It tolerates ``##`` vs
``###``, optional colons, values on the header line, bold markers, field-name case, extra
whitespace and CRLF. It returns what it could read plus ``problems``; it never raises on a
string and never invents a number it did not see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from cycle.data.records import Review
from cycle.data.review_text import (
    SCORE_RANGES,
    ReviewSet,
    format_number,
    format_score,
    is_accept,
    render_review_text,
    score_from_string,
)

__all__ = ["ParsedReview", "ReviewSet", "parse_review", "render_review_text"]

Layout = Literal["A", "B", "deepreviewer", "unknown"]

# Normalized header title -> Review attribute.
_FIELD_NAMES = {
    "summary": "summary",
    "soundness": "soundness",
    "presentation": "presentation",
    "contribution": "contribution",
    "strengths": "strengths",
    "strength": "strengths",
    "weaknesses": "weaknesses",
    "weakness": "weaknesses",
    "suggestions": "suggestions",
    "suggestion": "suggestions",
    "questions": "questions",
    "question": "questions",
    "flag for ethics review": "flag_for_ethics_review",
    "ethics review": "flag_for_ethics_review",
    "rating": "rating",
    "overall rating": "rating",
    "confidence": "confidence",
}
_META_NAMES = {"meta review", "metareview"}
_DECISION_NAMES = {"paper decision", "decision", "final decision"}

# Every pattern here runs in time linear in the line or text it scans: no two adjacent
# unbounded quantifiers can share characters (a trailing-space run is stripped in Python, not
# matched by a lazy group followed by ``[ \t]*$``, which backtracks quadratically).
_HASH_HEADER = re.compile(r"^[ \t]{0,3}(#{1,3})(?!#)(.*)$")
_BOLD_HEADER = re.compile(r"^[ \t]{0,3}\*\*([^*\n]+?)\*\*(.*)$")
_SEPARATOR = re.compile(r"^[ \t]*\*{5,}[ \t]*$")
_REVIEWER = re.compile(r"^reviewer(?: ?#? ?\d+)?$")  # on a whitespace-normalized title
_BOX_START = re.compile(r"\\boxed_([A-Za-z_]+)[ \t]*\{")
BLOCKS = ("simreviewers", "verification", "review", "questions")
_DOCUMENTED_BOX = re.compile(r"\\boxed_(?:" + "|".join(BLOCKS) + r")[ \t]*\{")
# A runaway generation repeating a review block is not more reviews: past this many, the rest
# are ignored and reported.
MAX_REVIEWS = 16
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
        DeepReviewer, its simulated reviewers)."""
        if self.final_rating is not None:
            return self.final_rating
        return getattr(self.review_set, f"{reward}_rating")


def _normalize_name(title: str) -> str:
    return " ".join(re.sub(r"[_\-]", " ", title).lower().split())


@dataclass
class _Header:
    kind: Literal["field", "meta", "decision", "reviewer"]
    name: str  # Review attribute for kind "field", the normalized title for "decision"
    level: int
    rest: str  # text after the title on the header line


def _classify(title: str, level: int) -> _Header | None:
    """A known header from a title such as ``Rating: 6`` or ``**Summary**``, else None."""
    title = title.replace("**", "").replace("__", "").strip()
    name, colon, rest = title.partition(":")
    key = _normalize_name(name)
    rest = rest.strip() if colon else ""
    if key in _FIELD_NAMES:
        return _Header("field", _FIELD_NAMES[key], level, rest)
    if key in _META_NAMES:
        return _Header("meta", "", level, rest)
    if key in _DECISION_NAMES:
        return _Header("decision", key, level, rest)
    if _REVIEWER.match(key):
        return _Header("reviewer", "", level, "")
    return None


def _header(line: str, bold: bool) -> _Header | None:
    """A known header line: ``## Title`` (levels 1-3), or ``**Title:**`` when ``bold`` is on."""
    match = _HASH_HEADER.match(line)
    if match:
        return _classify(match.group(2).strip(" \t"), len(match.group(1)))
    match = _BOLD_HEADER.match(line) if bold else None
    if match:
        inner, after = match.group(1).strip(), match.group(2).strip()
        if inner.endswith(":"):
            return _classify(f"{inner} {after}", 2)
        if after.startswith(":") or not after:
            return _classify(inner + after, 2)
    return None


@dataclass
class _Sections:
    """The raw pieces of a review document: one dict of field texts per review, meta, decision."""

    reviews: list[dict[str, str]] = field(default_factory=list)
    meta_review: str | None = None
    decision: str | None = None
    saw_reviewer_header: bool = False
    cut_field: str | None = None  # the last review's field still open where the text ends
    problems: list[str] = field(default_factory=list)


def _split_sections(text: str) -> _Sections:
    """Walk the lines once: review fields, then the meta review (kept verbatim), then the decision.

    Bold-only headers (``**Rating:** 6``) count only in a document without ``#`` field headers:
    human-written review text often holds lines such as ``**Weaknesses:**``.
    """
    lines = text.split("\n")
    bold = not any((h := _header(line, False)) and h.kind == "field" for line in lines)
    out = _Sections()
    state: Literal["reviews", "meta", "decision"] = "reviews"
    current: dict[str, list[str]] = {}
    field_name: str | None = None
    stray: list[str] = []
    meta: list[str] = []
    decision: list[str] = []

    ignored = 0

    def close_review() -> None:
        nonlocal current, field_name, ignored
        if current and len(out.reviews) < MAX_REVIEWS:
            out.reviews.append({k: "\n".join(v).strip() for k, v in current.items()})
        elif current:
            ignored += 1
        if "".join(stray).strip():
            where = f"in review {len(out.reviews)}" if current else "outside any review"
            out.problems.append(
                f"text {where} before its first field ignored: {_excerpt(' '.join(stray))}"
            )
        current, field_name = {}, None
        stray.clear()

    for line in lines:
        if state == "decision":
            decision.append(line)
            continue
        header = _header(line, bold)
        if state == "meta":
            # Sub-headers (### Justification ...) belong to the meta review text.
            if (
                header
                and header.kind == "decision"
                and (header.level <= 2 or header.name == "paper decision")
            ):
                state = "decision"
                decision.append(header.rest)
            else:
                meta.append(line)
        elif _SEPARATOR.match(line):
            close_review()
        elif header is None:
            (current[field_name] if field_name else stray).append(line)
        elif header.kind == "reviewer":
            out.saw_reviewer_header = True
            close_review()
        elif header.kind == "field":
            if header.name in current:  # a repeated field: a new review without a separator
                close_review()
            field_name = header.name
            current[field_name] = [header.rest]
        else:
            close_review()
            if header.kind == "meta":
                out.meta_review = ""
            state = header.kind
            (meta if state == "meta" else decision).append(header.rest)
    if state == "reviews" and field_name is not None and len(out.reviews) < MAX_REVIEWS:
        out.cut_field = field_name
    close_review()
    if ignored:
        out.problems.append(f"{ignored} reviews past the first {MAX_REVIEWS} ignored")
    if out.meta_review is not None:
        out.meta_review = "\n".join(meta).strip()
    if state == "decision":
        lines = [ln.strip() for ln in decision if ln.strip()]
        out.decision = lines[0] if lines else ""
        if len(lines) > 1:
            out.problems.append(f"text after the decision ignored: {_excerpt(' '.join(lines[1:]))}")
    return out


def _excerpt(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")


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
                f"{label}: {name} {_excerpt(body)} ends a truncated generation; not used"
            )
            value = None
        elif value is None:
            problems.append(f"{label}: unreadable {name} {_excerpt(body)}")
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
    sections = _split_sections(text)
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
    parsed.decision = "Accept" if is_accept(raw) else "Reject"


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
        sections = _split_sections(blocks["review"])
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
