"""Loaders for the released layouts: Research-14K rows (docs/formats.md §3) and review records (§4).

A source is a local ``.json``/``.jsonl``/``.parquet`` file, a folder of them, a folder written
by ``save_to_disk``, or a hub id (``WestlakeNLP/Research-14K``) when online. Offline (either
``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set) a hub id fails at once with a clear message.
The hub datasets are gated: accept their terms on the hub and log in first.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from cycle.data.latex import parse_document
from cycle.data.openreview import parse_review
from cycle.data.problems import Problem
from cycle.data.prompt_bibliography import merge_references, parse_bibliography_turn
from cycle.data.records import Paper, Reference, ReviewedPaper

REVIEW5K_HUB = "WestlakeNLP/Review-5K"
RESEARCH14K_HUB = "WestlakeNLP/Research-14K"
_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet"}
_TRUE = ("1", "true", "yes", "on")
log = logging.getLogger(__name__)


def hub_offline() -> bool:
    return any(
        os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def load_released(source: str, split: str | None = None) -> Any:
    """A ``Dataset`` (or ``DatasetDict`` when ``split`` is None and the source has several)."""
    import datasets

    path = Path(source).expanduser()
    if path.is_dir() and any(
        (path / f).is_file() for f in ("dataset_dict.json", "dataset_info.json")
    ):
        loaded = datasets.load_from_disk(str(path))
        return loaded[split] if split and isinstance(loaded, datasets.DatasetDict) else loaded
    if path.exists():
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        files = [f for f in files if f.suffix in _BUILDERS]
        builders = {_BUILDERS[f.suffix] for f in files}
        if len(builders) != 1:
            raise ValueError(
                f"{source}: expected .json/.jsonl or .parquet files of one kind, found {files}"
            )
        return datasets.load_dataset(
            builders.pop(), data_files=[str(f) for f in files], split=split or "train"
        )
    if path.suffix in _BUILDERS or source.startswith((".", "/", "~")):
        raise FileNotFoundError(f"no such released dataset file or folder: {source}")
    if hub_offline():
        raise RuntimeError(
            f"'{source}' is not a local path and the Hugging Face hub is offline "
            "(HF_HUB_OFFLINE / HF_DATASETS_OFFLINE): download it while online or point data.* to a local copy"
        )
    return datasets.load_dataset(source, split=split)


def research14k_bibliography(row: dict[str, Any]) -> tuple[list[Reference], list[str]]:
    """The references of a Research-14K row and what could not be read.

    A row built here carries each reference's ``key`` and ``bibtex``. A released row does not:
    its keys, titles, authors and abstracts come from the bibliography in its user turn
    (``cycle.data.prompt_bibliography``), matched by title to its S2 ``references``; S2 records
    nothing matched follow, keyed by ``paperId``.
    """
    records = [r for r in row.get("references") or [] if isinstance(r, dict)]
    if any(r.get("key") for r in records):
        return [
            Reference(
                key=str(r.get("key") or r.get("paperId") or ""),
                title=r.get("title") or "",
                abstract=r.get("abstract") or "",
                bibtex=r.get("bibtex") or "",
                paper_id=r.get("paperId") or "",
            )
            for r in records
        ], []
    messages = row.get("messages") or []
    user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
    turn = parse_bibliography_turn(user)
    refs, matched = merge_references(turn.references, records)
    problems = list(turn.problems)
    if turn.references and records and matched < min(len(turn.references), len(records)):
        problems.append(
            f"{matched} of {len(turn.references)} bibliography entries matched a reference by "
            f"title; {len(records) - matched} references kept without a bib key of the paper"
        )
    return refs, problems


def research14k_references(row: dict[str, Any]) -> list[Reference]:
    """``research14k_bibliography`` without the problems (logged at debug level)."""
    refs, problems = research14k_bibliography(row)
    for problem in problems:
        log.debug("Research-14K row %s: %s", row.get("paperId"), problem)
    return refs


def paper_from_research14k_row(row: dict[str, Any]) -> Paper:
    """A Research-14K row (released or built here) as a ``Paper``."""
    authors = [
        a.get("name", "") if isinstance(a, dict) else str(a) for a in row.get("authors") or []
    ]
    refs = research14k_references(row)
    return Paper(
        paper_id=str(row.get("paperId") or row.get("arxiv") or ""),
        title=row.get("title") or "",
        abstract=row.get("abstract") or "",
        sections=[(s[0], s[1]) for s in row.get("sections") or []],
        references=refs,
        figures=list(row.get("figures") or []),
        authors=authors,
        venue=row.get("venue") or "",
        year=row.get("year"),
        date=row.get("date") or "",
    )


_MD_HEADING = re.compile(r"^#{1,2}\s+(.+?)\s*$", re.MULTILINE)


def _sections_from_text(text: str) -> list[tuple[str, str]]:
    """LaTeX sections when the text has them, else markdown ``#``/``##`` headings, else one block."""
    doc = parse_document(text)
    if doc.sections:
        return doc.sections
    parts = _MD_HEADING.split(text)
    if len(parts) > 1:
        return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]
    return [("Paper", text.strip())]


def reviewed_paper_from_record(
    row: dict[str, Any], source: str = "", require_text: bool = True
) -> tuple[ReviewedPaper | None, list[Problem]]:
    """A review record as released (``id, title, paper_context, decision, review[{id, content}]``,
    DeepReviewer's sample layout) or as built here (``ReviewedPaper.to_row`` columns).

    ``require_text=False`` keeps a record without paper text (scoring stored predictions needs
    only its reviews and decision)."""
    if isinstance(row.get("paper"), dict):
        return ReviewedPaper.from_row(row), []
    record = str(row.get("id") or row.get("paper_id") or "?")
    text = row.get("paper_context") or row.get("paper_text") or row.get("text") or ""
    if not text and require_text:
        return None, [Problem("forum", source, record, "record has no paper text")]
    problems: list[Problem] = []
    reviews = []
    for i, item in enumerate(row.get("review") or row.get("reviews") or []):
        content = item.get("content", item) if isinstance(item, dict) else {}
        if (
            isinstance(item, dict)
            and content.get("rating") is None
            and item.get("rating") is not None
        ):
            content = {**content, "rating": item["rating"]}  # the rating beside the content
        review, found = parse_review(
            {"id": item.get("id", f"{record}#{i}"), "content": content}, source
        )
        problems += found
        if review is not None:
            reviews.append(review)
    paper = Paper(
        paper_id=record,
        title=row.get("title") or "",
        abstract=row.get("abstract") or (parse_document(text).abstract if text else ""),
        sections=_sections_from_text(text) if text else [],
        decision=row.get("decision") or "",
        source=source,
    )
    if not reviews:
        return None, [*problems, Problem("forum", source, record, "no usable reviews")]
    meta = row.get("meta_review") or row.get("metareview") or ""
    return ReviewedPaper(
        paper=paper, reviews=reviews, meta_review=meta, decision=paper.decision
    ), problems
