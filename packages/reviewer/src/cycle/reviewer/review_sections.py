"""A review document cut into its sections in one linear walk over its lines.

``split_sections`` finds the field headers of every review (``##`` / ``###`` titles, bold titles,
``**********`` separators, ``## Reviewer N``), then the meta review (kept verbatim) and the
decision line; ``cycle.reviewer.format`` turns the field texts into ``Review`` records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

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
# A runaway generation repeating a review block is not more reviews: past this many, the rest
# are ignored and reported.
MAX_REVIEWS = 16


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
class Sections:
    """The raw pieces of a review document: one dict of field texts per review, meta, decision."""

    reviews: list[dict[str, str]] = field(default_factory=list)
    meta_review: str | None = None
    decision: str | None = None
    saw_reviewer_header: bool = False
    cut_field: str | None = None  # the last review's field still open where the text ends
    problems: list[str] = field(default_factory=list)


def split_sections(text: str) -> Sections:
    """Walk the lines once: review fields, then the meta review (kept verbatim), then the decision.

    Bold-only headers (``**Rating:** 6``) count only in a document without ``#`` field headers:
    human-written review text often holds lines such as ``**Weaknesses:**``.
    """
    lines = text.split("\n")
    bold = not any((h := _header(line, False)) and h.kind == "field" for line in lines)
    out = Sections()
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
                f"text {where} before its first field ignored: {excerpt(' '.join(stray))}"
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
            out.problems.append(f"text after the decision ignored: {excerpt(' '.join(lines[1:]))}")
    return out


def excerpt(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= width else text[: width - 3] + "...")
