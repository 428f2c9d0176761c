"""Loaders for the released layouts: Research-14K rows (docs/formats.md §3) and review records (§4).

A source is a local ``.json``/``.jsonl``/``.parquet`` file, a folder of them, a folder written
by ``save_to_disk``, or a hub id (``WestlakeNLP/Research-14K``) when online. Offline (either
``HF_HUB_OFFLINE`` or ``HF_DATASETS_OFFLINE`` set) a hub id fails at once with a clear message.
The hub datasets are gated: accept their terms on the hub and log in first.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.data.ids import check_record_id
from cycle.data.latex_document import parse_document
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


def iter_review_rows(source: str) -> Iterator[tuple[str, Any]]:
    """(split, row) for every row of a released review dataset, split by split. A local
    ``.json``/``.jsonl`` file is read as plain JSON, row by row (OpenReview content mixes value
    types that one Arrow schema cannot hold, and one odd row must not stop the others); a
    JSONL line that is not JSON comes as a ``ValueError`` in place of its row."""
    path = Path(source).expanduser()
    if path.is_file() and path.suffix == ".jsonl":
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    try:
                        yield "train", json.loads(line)
                    except json.JSONDecodeError as err:
                        yield "train", ValueError(f"line {number} is not JSON: {err}")
        return
    if path.is_file() and path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for row in data if isinstance(data, list) else [data]:
            yield "train", row
        return
    import datasets

    loaded = load_released(source)
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("train", loaded)]
    for name, ds in splits:
        yield from ((name, row) for row in ds)


def released_messages(value: Any) -> tuple[list[dict[str, Any]], bool]:
    """A Research-14K row's ``messages`` checked: (the list of ``{role, content}`` messages,
    whether it was decoded from a JSON string). ``ValueError`` says why a value is unusable."""
    decoded = isinstance(value, str)
    if decoded:
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise ValueError(f"messages is a string that is not JSON ({err.msg})") from None
    if not (
        isinstance(value, list)
        and value
        and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    ):
        got = "a JSON string holding " if decoded else ""
        raise ValueError(
            f"messages must be a non-empty list of {{role, content}} objects, got {got}"
            f"{type(value).__name__}"
        )
    if decoded:
        value = [{"role": m["role"], "content": m["content"]} for m in value]
    return value, decoded


def source_label(source: str) -> str:
    """How rows name their source: a local file or folder by its name (the builder's absolute
    paths stay out of the dataset), a hub id as given."""
    path = Path(source).expanduser()
    return path.name if path.exists() else source


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
    Nothing raises: a row that cannot be read is ``(None, problems)`` with the reason.

    ``require_text=False`` keeps a record without paper text and does not parse the text at all
    (scoring stored predictions needs only its reviews and decision)."""
    record = str(row.get("id") or row.get("paper_id") or "?") if isinstance(row, dict) else "?"
    try:
        return _reviewed_paper(row, source, require_text)
    except Exception as err:  # RecursionError from deep nesting, a wrong type, ...
        reason = f"unreadable row: {type(err).__name__}: {str(err)[:200]}"
        return None, [Problem("forum", source, record, reason)]


def _reviewed_paper(
    row: dict[str, Any], source: str, require_text: bool
) -> tuple[ReviewedPaper | None, list[Problem]]:
    if not isinstance(row, dict):
        raise TypeError(f"a row is a JSON object, got {type(row).__name__}")
    if isinstance(row.get("paper"), dict):
        rp = ReviewedPaper.from_row(row)
        check_record_id(rp.paper.paper_id, "paper_id")
        return rp, []
    record = row.get("id") or row.get("paper_id")
    try:
        check_record_id(record, "id")
    except ValueError as err:
        return None, [Problem("forum", source, str(record), str(err))]
    text = row.get("paper_context") or row.get("paper_text") or row.get("text") or ""
    if not isinstance(text, str):
        raise TypeError(f"the paper text is a {type(text).__name__}, not a string")
    if not text and require_text:
        return None, [Problem("forum", source, record, "record has no paper text")]
    problems: list[Problem] = []
    reviews = []
    items = row.get("review") or row.get("reviews") or []
    if not isinstance(items, list):
        raise TypeError(f"review must be a list of reviews, got {type(items).__name__}")
    for i, item in enumerate(items):
        content = item.get("content", item) if isinstance(item, dict) else item
        if not isinstance(content, dict):
            reason = f"review content is a {type(content).__name__}, not an object"
            problems.append(Problem("review", source, f"{record}#{i}", reason))
            continue
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
    parse = bool(text) and require_text
    paper = Paper(
        paper_id=record,
        title=row.get("title") or "",
        abstract=row.get("abstract") or (parse_document(text).abstract if parse else ""),
        sections=_sections_from_text(text) if parse else [],
        decision=row.get("decision") or "",
        source=source,
    )
    if not reviews:
        return None, [*problems, Problem("forum", source, record, "no usable reviews")]
    meta = row.get("meta_review") or row.get("metareview") or ""
    return ReviewedPaper(
        paper=paper, reviews=reviews, meta_review=meta, decision=paper.decision
    ), problems
