"""OpenReview exports in the PeerRead layout -> ``ReviewedPaper`` (paper §2.1, §3.1).

An export folder holds ``reviews/<id>.json``::

    {"id", "title", "abstract", "authors", "accepted": true|false|null, "keywords",
     "conference": "NeurIPS 2025", "reviews": [...], "histories": [...]}

and, for some papers, the full text as ``parsed_pdfs/<id>.pdf.md`` (a PDF->Markdown conversion)
or the PDF itself as ``pdfs/<id>.pdf`` (converted at build time; ``cycle.data.paper_text``).
Each review is ``{"IS_META_REVIEW", "comments", "TITLE", "RECOMMENDATION",
"REVIEWER_CONFIDENCE", "DATE"}`` plus the venue's integer sub-scores. ``comments`` holds parts
headed ``SUMMARY:``, ``STRENGTHS:``, ``WEAKNESSES:`` (or one ``STRENGTHS AND WEAKNESSES:``),
``QUESTIONS:``, ``LIMITATIONS:`` on their own lines.

Mapping onto CycleReviewer's review fields:

- SUMMARY, STRENGTHS, WEAKNESSES, QUESTIONS -> the fields of the same name. A combined
  STRENGTHS AND WEAKNESSES part is split at its ``Weaknesses`` label line (``Weaknesses:``,
  ``**Weaknesses**``, ``## Weakness``, ``Cons:``); without one it is kept whole as strengths
  (reported as repaired). LIMITATIONS has no field in the review document: it is kept in
  ``raw["limitations"]``.
- Markdown headings inside a part become bold lines, so the document's own ``##`` field headers
  stay the only headings (a reviewer's ``## Weaknesses`` would otherwise start a new field).
- Scores by ``score_fields`` (RECOMMENDATION -> rating, REVIEWER_CONFIDENCE -> confidence, ...);
  the rating must lie in the venue's rating scale, other scores in their usual ranges. Every
  other field is kept in ``raw`` (e.g. NeurIPS 2025's ORIGINALITY).
- A meta review (``IS_META_REVIEW``) is not a review: its RECOMMENDATION (``Accept
  (spotlight)``) is the decision and its COMMENT part the meta review; it is listed in
  ``rejected.jsonl`` as dropped. Without one the decision comes from ``accepted``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.data.paper_text import ABSTRACT_ONLY, PaperTextError, read_paper_text
from cycle.data.problems import Problem
from cycle.data.records import Paper, Review, ReviewedPaper
from cycle.data.review_text import SCORE_RANGES, score_from_string
from cycle.data.schemas import DEFAULT_LIMITS, FileLimits, OpenReviewExportConfig
from cycle.data.source_files import SourceRoot

_PART = re.compile(
    r"^(SUMMARY|STRENGTHS AND WEAKNESSES|STRENGTHS|WEAKNESSES|QUESTIONS|LIMITATIONS|DECISION"
    r"|COMMENT):[ \t]*$",
    re.MULTILINE,
)
_PART_FIELDS = {
    "SUMMARY": "summary",
    "STRENGTHS": "strengths",
    "WEAKNESSES": "weaknesses",
    "QUESTIONS": "questions",
}


# A label line: at most six words after markup (``**Weaknesses:**``, ``### Cons``, ``[Weakness]``,
# ``- Weaknesses (elaborated below):``) that start with the label word.
_LABEL_MARKUP = " \t#*_[]()>-+:.\uff1a\\"
_WEAKNESS_WORD = re.compile(
    r"(?:\(\d\)\s*)?(?:summary of |main |key |major |some )?(?:weak|cons\b|concerns\b)"
)
_STRENGTH_WORD = re.compile(r"(?:\(\d\)\s*)?(?:main |key |major )?(?:streng|strenght|pros\b)")


def _is_label(line: str, word: re.Pattern[str]) -> bool:
    core = line.strip(_LABEL_MARKUP).lower()
    return len(line) <= 80 and 0 < len(core.split()) <= 6 and word.match(core) is not None


def _after_label(line: str) -> str:
    """Text on a label line after its colon (``Weaknesses: minor typos.`` -> ``minor typos.``)."""
    _, colon, rest = line.replace("\uff1a", ":").partition(":")
    return rest.strip(" \t*_") if colon else ""


_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_SEPARATOR = re.compile(r"^[ \t]*\*{5,}[ \t]*$", re.MULTILINE)
_YEAR = re.compile(r"\b(19|20)\d\d\b")


def export_record_paths(export_dir: str | Path) -> list[Path]:
    """``<export_dir>/reviews/*.json`` in name order (the build order)."""
    reviews = Path(export_dir) / "reviews"
    if not reviews.is_dir():
        raise FileNotFoundError(
            f"{reviews} is not a folder: data.export_dir must hold reviews/<id>.json (PeerRead layout)"
        )
    with os.scandir(reviews) as entries:
        return sorted(reviews / e.name for e in entries if e.name.endswith(".json"))


def review_parts(comments: str) -> dict[str, str]:
    """``comments`` split at its ``PART:`` lines (upper-case names -> text); text before the
    first part is kept under the key ``""``."""
    pieces = _PART.split(comments)
    parts = {"": pieces[0].strip()} if pieces[0].strip() else {}
    for i in range(1, len(pieces) - 1, 2):
        parts[pieces[i]] = (parts.get(pieces[i], "") + "\n\n" + pieces[i + 1].strip()).strip()
    return parts


def demote_headings(text: str) -> str:
    """Markdown headings inside a review part -> bold lines; ``*****`` lines -> ``---``."""
    return _SEPARATOR.sub("---", _HEADING.sub(r"**\1**", text))


def split_strengths_weaknesses(text: str) -> tuple[str, str] | None:
    """(strengths, weaknesses) at the first ``Weaknesses`` label line, a leading ``Strengths``
    label line dropped; None when there is no such line."""
    lines = text.split("\n")
    cut = next((i for i, line in enumerate(lines) if _is_label(line, _WEAKNESS_WORD)), None)
    if cut is None:
        return None
    head = lines[:cut]
    first = next((i for i, line in enumerate(head) if line.strip()), None)
    if first is not None and _is_label(head[first], _STRENGTH_WORD):
        head = [_after_label(head[first]), *head[first + 1 :]]
    tail = [_after_label(lines[cut]), *lines[cut + 1 :]]
    return "\n".join(head).strip(), "\n".join(tail).strip()


def _raw_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def parse_export_review(
    item: dict[str, Any],
    record: str,
    source: str,
    rating_scale: tuple[float, float],
    score_fields: dict[str, str],
) -> tuple[Review | None, list[Problem]]:
    """One (non-meta) review; a missing or off-scale rating rejects it."""
    problems: list[Problem] = []
    parts = review_parts(_raw_text(item.get("comments") or ""))
    fields = {name: demote_headings(parts.get(key, "")) for key, name in _PART_FIELDS.items()}
    if "STRENGTHS AND WEAKNESSES" in parts:
        both = parts["STRENGTHS AND WEAKNESSES"]
        split = split_strengths_weaknesses(both)
        if split is None:
            split = (both, "")
            reason = "STRENGTHS AND WEAKNESSES has no Weaknesses label: kept whole as strengths"
            problems.append(Problem("field", source, record, reason, dropped=False))
        for name, text in zip(("strengths", "weaknesses"), split, strict=True):
            fields[name] = "\n\n".join(t for t in (fields[name], demote_headings(text)) if t)
    if not any(key in parts for key in (*_PART_FIELDS, "STRENGTHS AND WEAKNESSES")):
        fields["summary"] = demote_headings(parts.get("", ""))
    raw = {
        k.lower(): _raw_text(v)
        for k, v in item.items()
        if k not in ("comments", "IS_META_REVIEW", *score_fields) and v is not None
    }
    if parts.get("LIMITATIONS"):
        raw["limitations"] = parts["LIMITATIONS"]
    scores: dict[str, float | None] = {}
    for key, name in score_fields.items():
        value = item.get(key)
        parsed = score_from_string(value) if isinstance(value, (str, int, float)) else None
        low, high = rating_scale if name == "rating" else SCORE_RANGES[name]
        if parsed is not None and not low <= parsed <= high:
            parsed = None
        if parsed is None and name == "rating":
            reason = f"{key}: no rating on the {low:g}-{high:g} scale in {value!r}"
            return None, [*problems, Problem("review", source, record, reason)]
        if parsed is None and value is not None:
            reason = f"{key}: cannot read a {low:g}-{high:g} score from {value!r}"
            problems.append(Problem("field", source, record, reason, dropped=False))
        if parsed is not None:
            raw[name] = _raw_text(value)
        scores[name] = parsed
    return Review(**fields, **scores, raw=raw), problems


def _decision(item: dict[str, Any], parts: dict[str, str]) -> str:
    value = item.get("RECOMMENDATION")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return parts.get("DECISION", "").strip().split("\n")[0]


def _rating_scale(config: OpenReviewExportConfig, venue: str) -> tuple[float, float] | None:
    scale = config.rating_scale or config.rating_scales.get(venue)
    return (float(scale[0]), float(scale[1])) if scale else None


def load_export_paper(
    path: str | Path,
    export_dir: str | Path,
    config: OpenReviewExportConfig,
    min_reviews: int = 1,
    keep_appendix: bool = False,
    limits: FileLimits = DEFAULT_LIMITS,
) -> tuple[ReviewedPaper | None, list[Problem]]:
    """One ``reviews/<id>.json`` with its full text, files read inside ``export_dir``; nothing
    raises."""
    path = Path(path)
    src, record = str(path), path.stem
    try:
        files = SourceRoot(Path(export_dir), **limits.as_kwargs())
        data = files.read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("reviews"), list):
            raise ValueError("not a PeerRead record (a JSON object with a 'reviews' list)")
        return _parse_record(data, files, src, record, config, min_reviews, keep_appendix)
    except Exception as err:  # one broken record must not stop the build
        return None, [Problem("paper", src, record, f"{type(err).__name__}: {err}")]


def _parse_record(
    data: dict[str, Any],
    files: SourceRoot,
    src: str,
    record: str,
    config: OpenReviewExportConfig,
    min_reviews: int,
    keep_appendix: bool,
) -> tuple[ReviewedPaper | None, list[Problem]]:
    paper_id = str(data.get("id") or record)
    venue = config.venue or _raw_text(data.get("conference") or "")
    scale = _rating_scale(config, venue)
    if scale is None:
        reason = (
            f"venue {venue!r} has no rating scale: set data.openreview_export.rating_scale="
            "[low,high] (or add it to rating_scales)"
        )
        return None, [Problem("paper", src, paper_id, reason)]
    problems: list[Problem] = []
    reviews: list[Review] = []
    decision = meta_review = ""
    for i, item in enumerate(data["reviews"]):
        where = f"{paper_id}#{i}"
        if not isinstance(item, dict):
            problems.append(Problem("review", src, where, "not a review object"))
        elif item.get("IS_META_REVIEW"):
            parts = review_parts(_raw_text(item.get("comments") or ""))
            decision = _decision(item, parts) or decision
            meta_review = parts.get("COMMENT", parts.get("", "")).strip()
            reason = "meta review: its decision and comment are used, it is not a review"
            problems.append(Problem("meta_review", src, where, reason))
        else:
            review, found = parse_export_review(item, where, src, scale, config.score_fields)
            problems += found
            if review is not None:
                reviews.append(review)
    if not decision and isinstance(data.get("accepted"), bool):
        decision = "Accept" if data["accepted"] else "Reject"
    if not decision:
        return None, [
            *problems,
            Problem("paper", src, paper_id, "no decision (no meta review, accepted is null)"),
        ]
    if len(reviews) < max(min_reviews, 1):
        reason = f"{len(reviews)} rated reviews < {max(min_reviews, 1)} (data.min_reviews)"
        return None, [*problems, Problem("paper", src, paper_id, reason)]
    candidates = {
        "markdown": files.root / "parsed_pdfs" / f"{record}.pdf.md",
        "pdf": files.root / "pdfs" / f"{record}.pdf",
    }
    try:
        text = read_paper_text(files, candidates, keep_appendix)
    except PaperTextError as err:
        if config.require_full_text:
            return None, [*problems, Problem("paper", src, paper_id, f"paper text refused: {err}")]
        problems.append(Problem("paper", src, paper_id, f"{err}: abstract only", dropped=False))
        text = None
    if text is None and config.require_full_text:
        reason = (
            "no full text (parsed_pdfs/<id>.pdf.md or pdfs/<id>.pdf); "
            "data.openreview_export.require_full_text=false keeps the abstract"
        )
        return None, [*problems, Problem("paper", src, paper_id, reason)]
    abstract = (text.abstract if text else "") or _raw_text(data.get("abstract") or "")
    if text is None and not abstract.strip():
        return None, [*problems, Problem("paper", src, paper_id, "no full text and no abstract")]
    year = _YEAR.search(venue)
    paper = Paper(
        paper_id=paper_id,
        title=_raw_text(data.get("title") or "") or (text.title if text else ""),
        abstract=abstract,
        sections=text.sections if text else [],
        venue=venue,
        year=int(year.group()) if year else None,
        decision=decision,
        source=text.path if text else src,
        text_source=text.text_source if text else ABSTRACT_ONLY,
    )
    rp = ReviewedPaper(paper, reviews, meta_review, decision, rating_scale=scale)
    return rp, problems


def iter_export(
    export_dir: str | Path,
    config: OpenReviewExportConfig,
    min_reviews: int = 1,
    keep_appendix: bool = False,
    limits: FileLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[ReviewedPaper | None, list[Problem]]]:
    """Every record of an export in name order, one at a time (no deadline; ``build_data``
    parses each under its per-record deadline)."""
    for path in export_record_paths(export_dir):
        yield load_export_paper(path, export_dir, config, min_reviews, keep_appendix, limits)
