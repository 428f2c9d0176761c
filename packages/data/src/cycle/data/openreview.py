"""OpenReview API-v2 note dumps -> ``ReviewedPaper`` (docs/formats.md §4), and an optional live fetch.

A forum folder holds ``notes.json`` (the submission note and its replies, each content field
wrapped as ``{"value": ...}``) and the submission's text, which notes do not carry:
``paper.tex``, else ``paper.md`` (a PDF->Markdown conversion), else ``paper.pdf``
(``cycle.data.paper_text``). Reviews, the meta review and the decision are the replies whose
invitations end in ``/-/Official_Review``, ``/-/Meta_Review`` and ``/-/Decision``; withdrawn
and desk-rejected submissions are excluded with a reason. Scores are read with
``score_from_string`` (the whole leading number: ``"10: strong accept"`` is 10) and checked
against their ranges; every raw content value is kept in ``Review.raw``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.core.io import atomic_write_json
from cycle.data.ids import check_record_id, is_safe_path_part
from cycle.data.paper_text import PaperText, PaperTextError, read_paper_text
from cycle.data.problems import Problem
from cycle.data.records import Paper, Review, ReviewedPaper
from cycle.data.review_text import SCORE_FIELDS, SCORE_RANGES, score_from_string
from cycle.data.schemas import DEFAULT_LIMITS, FileLimits
from cycle.data.source_files import SourceRoot

SUBMISSION, REVIEW, META_REVIEW, DECISION = (
    "/-/Submission",
    "/-/Official_Review",
    "/-/Meta_Review",
    "/-/Decision",
)
EXCLUDED = {
    "Withdrawn_Submission": "withdrawn",
    "Desk_Rejected_Submission": "desk rejected",
    "/-/Withdrawal": "withdrawn",
    "/-/Desk_Rejection": "desk rejected",
}
TEXT_FIELDS = ("summary", "strengths", "weaknesses", "questions", "suggestions")
USERNAME_ENV, PASSWORD_ENV = "OPENREVIEW_USERNAME", "OPENREVIEW_PASSWORD"
API_BASEURL = "https://api2.openreview.net"
log = logging.getLogger(__name__)


def unwrap(value: Any) -> Any:
    """API v2 wraps every content field as ``{"value": ...}``; v1 did not."""
    return value["value"] if isinstance(value, dict) and "value" in value else value


def invitations(note: dict[str, Any]) -> list[str]:
    """v2 notes carry an ``invitations`` list, v1 notes one ``invitation`` string."""
    invs = note.get("invitations") or []
    return [*invs, note["invitation"]] if note.get("invitation") else list(invs)


def _is(note: dict[str, Any], suffix: str) -> bool:
    return any(inv.endswith(suffix) for inv in invitations(note))


def _content(note: dict[str, Any]) -> dict[str, Any]:
    return {k: unwrap(v) for k, v in (note.get("content") or {}).items()}


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False)


def parse_review(note: dict[str, Any], source: str = "") -> tuple[Review | None, list[Problem]]:
    """One Official_Review note. A missing or unreadable rating rejects the review; other
    unreadable scores become ``None`` and are reported."""
    content = _content(note)
    record = str(note.get("id", "?"))
    problems: list[Problem] = []
    scores: dict[str, float | None] = {}
    for name in SCORE_FIELDS:
        value = content.get(name)
        parsed = score_from_string(value) if isinstance(value, (str, int, float)) else None
        low, high = SCORE_RANGES[name]
        if parsed is not None and not low <= parsed <= high:
            parsed = None
        if parsed is None:
            reason = f"{name}: cannot read a score from {value!r}"
            if name == "rating":
                return None, [Problem("review", source, record, reason)]
            problems.append(Problem("field", source, record, reason, dropped=False))
        scores[name] = parsed
    review = Review(
        **{name: _as_text(content.get(name)) for name in TEXT_FIELDS},
        **scores,
        flag_for_ethics_review=_as_text(content.get("flag_for_ethics_review")),
        raw={
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in content.items()
        },
    )
    return review, problems


def _meta_review_text(content: dict[str, Any]) -> str:
    """The meta review with its extra fields (justifications) as ``###`` paragraphs."""
    parts = [_as_text(content.get("metareview")).strip()]
    for key, value in content.items():
        if (
            key in ("metareview", "recommendation", "confidence", "title")
            or not _as_text(value).strip()
        ):
            continue
        parts.append(f"### {key.replace('_', ' ').title()}\n\n{_as_text(value).strip()}")
    return "\n\n".join(p for p in parts if p)


def decision_from_venue(venue: str, venueid: str) -> str:
    """A decision when no Decision note exists: ``"ICLR 2024 poster"`` -> ``"Accept (poster)"``."""
    if venueid.endswith("Rejected_Submission"):
        return "Reject"
    for tier in ("oral", "spotlight", "poster"):
        if tier in venue.lower():
            return f"Accept ({tier})"
    return ""


def exclusion_reason(submission: dict[str, Any], notes: list[dict[str, Any]]) -> str | None:
    venueid = str(_content(submission).get("venueid") or "")
    for marker, reason in EXCLUDED.items():
        if venueid.endswith(marker) or any(
            _is(n, marker) for n in notes if marker.startswith("/-/")
        ):
            return reason
    return None


def paper_candidates(folder: Path) -> dict[str, Path]:
    """A forum folder's text files, in the order they are tried."""
    return {
        "tex": folder / "paper.tex",
        "markdown": folder / "paper.md",
        "pdf": folder / "paper.pdf",
    }


def parse_forum(
    notes: list[dict[str, Any]],
    source: str = "",
    paper_dir: Path | None = None,
    min_reviews: int = 1,
    files: SourceRoot | None = None,
    keep_appendix: bool = False,
) -> tuple[ReviewedPaper | None, list[Problem]]:
    """A forum's notes -> ``ReviewedPaper``; ``(None, problems)`` when the forum is excluded.
    The text is ``paper.tex``, else ``paper.md``, else ``paper.pdf`` in ``paper_dir``, read
    through ``files`` (default: ``paper_dir`` itself)."""
    submission = next((n for n in notes if _is(n, SUBMISSION)), None) or next(
        (n for n in notes if n.get("id") and n.get("id") == n.get("forum")), None
    )
    if submission is None:
        return None, [Problem("forum", source, Path(source).name, "no submission note")]
    forum = str(submission.get("forum") or submission.get("id"))
    try:
        check_record_id(forum, "forum id")
    except ValueError as err:
        return None, [Problem("forum", source, forum, str(err))]
    if reason := exclusion_reason(submission, notes):
        return None, [Problem("forum", source, forum, f"excluded: {reason}")]
    content = _content(submission)

    problems: list[Problem] = []
    reviews: list[Review] = []
    meta_review, decision = "", ""
    for note in notes:
        if _is(note, REVIEW):
            review, found = parse_review(note, source)
            problems += found
            if review is not None:
                reviews.append(review)
        elif _is(note, META_REVIEW):
            meta_review = _meta_review_text(_content(note))
        elif _is(note, DECISION):
            decision = _as_text(_content(note).get("decision")).strip()
    decision = decision or decision_from_venue(
        _as_text(content.get("venue")), _as_text(content.get("venueid"))
    )
    if not decision:
        return None, [*problems, Problem("forum", source, forum, "no decision")]
    if len(reviews) < min_reviews:
        return None, [
            *problems,
            Problem("forum", source, forum, f"{len(reviews)} usable reviews < {min_reviews}"),
        ]
    found: PaperText | None = None
    if paper_dir is not None:
        try:
            found = read_paper_text(
                files or SourceRoot(paper_dir), paper_candidates(paper_dir), keep_appendix
            )
        except PaperTextError as err:
            return None, [*problems, Problem("forum", source, forum, f"paper text refused: {err}")]
    if found is None:
        reason = "no paper text (paper.tex, paper.md or paper.pdf)"
        return None, [*problems, Problem("forum", source, forum, reason)]
    problems += [Problem("latex", found.path, forum, p, dropped=False) for p in found.problems]
    paper = Paper(
        paper_id=forum,
        title=found.title or _as_text(content.get("title")),
        abstract=found.abstract or _as_text(content.get("abstract")),
        sections=found.sections,
        figures=found.figures,
        venue=_as_text(content.get("venue")),
        source=found.path,
        text_source=found.text_source,
    )
    paper.decision = decision
    return ReviewedPaper(
        paper=paper, reviews=reviews, meta_review=meta_review, decision=decision
    ), problems


def forum_folders(root: str | Path) -> list[Path]:
    """The forum folders under ``root``, in name order."""
    return sorted(p for p in Path(root).iterdir() if p.is_dir())


def load_forum(
    folder: str | Path,
    min_reviews: int = 1,
    limits: FileLimits = DEFAULT_LIMITS,
    data_root: str | Path | None = None,
    keep_appendix: bool = False,
) -> tuple[ReviewedPaper | None, list[Problem]]:
    """One ``<forum>/notes.json`` (+ its paper text), files read only inside the folder (which
    must lie inside ``data_root`` when given); nothing raises."""
    folder = Path(folder)
    try:
        files = SourceRoot.for_record(folder, data_root, **limits.as_kwargs())
        notes = files.read_json(files.root / "notes.json")
        if not isinstance(notes, list) or not all(isinstance(n, dict) for n in notes):
            raise ValueError("notes.json is not a JSON list of notes")
        rp, problems = parse_forum(
            notes, str(folder), files.root, min_reviews, files, keep_appendix
        )
        if rp is not None:  # rows name the text relative to the source folder, not where it lay
            rp.paper.source = f"{folder.name}/{Path(rp.paper.source).name}"
        return rp, problems
    except Exception as err:  # one broken dump must not stop the build
        return None, [Problem("forum", str(folder), folder.name, f"{type(err).__name__}: {err}")]


def iter_forums(
    root: str | Path, min_reviews: int = 1, limits: FileLimits = DEFAULT_LIMITS
) -> Iterator[tuple[ReviewedPaper | None, list[Problem]]]:
    """Parse every ``<root>/<forum>/notes.json`` in name order, one forum at a time."""
    for folder in forum_folders(root):
        yield load_forum(folder, min_reviews, limits, root)


def openreview_client(baseurl: str = API_BASEURL) -> Any:
    """A logged-in ``openreview.api.OpenReviewClient`` (credentials from the environment only)."""
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if not username or not password:
        raise RuntimeError(
            f"set {USERNAME_ENV} and {PASSWORD_ENV} to fetch from OpenReview "
            "(anonymous API access is refused)"
        )
    try:
        import openreview
    except ImportError as err:
        raise RuntimeError(
            "live fetching needs openreview-py: pip install 'cycle-data[openreview]'"
        ) from err
    return openreview.api.OpenReviewClient(baseurl=baseurl, username=username, password=password)


def fetch_forums(
    venue_id: str, out_dir: str | Path, client: Any = None, limit: int | None = None
) -> dict[str, int]:
    """Download a venue's submissions with their replies into ``<out_dir>/<forum>/notes.json``.

    Forums already on disk are skipped (the cache), so an interrupted crawl resumes. Paper
    texts are not fetched: put each submission's LaTeX next to its notes as ``paper.tex``.
    """
    if not venue_id or "/" not in venue_id or venue_id.endswith("/"):
        raise ValueError(f"expected a venue id such as 'ICLR.cc/2024/Conference', got {venue_id!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    client = client or openreview_client()
    out = Path(out_dir)
    counts = {"fetched": 0, "cached": 0, "refused": 0}
    submissions = client.get_all_notes(invitation=f"{venue_id}{SUBMISSION}", details="replies")
    for note in submissions[:limit] if limit else submissions:
        data = note.to_json() if hasattr(note, "to_json") else dict(note)
        forum = data.get("forum") or data.get("id")
        if not is_safe_path_part(forum):  # the API's id names a folder: never "..", "/x", ...
            log.warning(
                "skipped a submission whose forum id cannot name a folder: %s", ascii(forum)
            )
            counts["refused"] += 1
            continue
        path = out / forum / "notes.json"
        if path.is_file():
            counts["cached"] += 1
            continue
        replies = (getattr(note, "details", None) or data.get("details") or {}).get("replies") or []
        data.pop("details", None)
        atomic_write_json(path, [data, *replies])
        counts["fetched"] += 1
    return counts
