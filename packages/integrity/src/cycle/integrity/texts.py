"""Reading the human and machine texts the detect stage scores.

A text is a dict row ``{"id", "format", "label", "text", "source"}`` (label 1 = machine) plus,
for generated continuations, ``"prompt"`` (the human prefix) and ``"continuation"``. Rows that
cannot be used are returned as rejects ``{"source", "id", "reason"}``, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("paper", "review")
Row = dict[str, Any]

__all__ = ["FORMATS", "corpus_texts", "paper_text", "read_text_files"]


def _check(
    row: Any, label: int, source: str, index: int, default_format: str | None
) -> tuple[Row | None, str]:
    if not isinstance(row, dict):
        return None, "row is not a JSON object"
    text = row.get("text")
    if (not isinstance(text, str) or not text.strip()) and row.get("sections"):
        text, default_format = paper_text(row), default_format or "paper"  # a generated-paper row
    if not isinstance(text, str) or not text.strip():
        return None, "missing or empty 'text' (and no 'sections')"
    fmt = row.get("format") or default_format
    if fmt not in FORMATS:
        return None, f"format {fmt!r} is not one of {FORMATS}"
    out = {
        **row,
        "id": str(row.get("id", f"{Path(source).stem}:{index}")),
        "format": fmt,
        "label": label,
        "text": text,
    }
    out.setdefault("source", source)
    return out, ""


def paper_text(row: Row) -> str:
    """A paper row (title, abstract, sections as [heading, latex]) in the layout of
    ``cycle.data.records.Paper.text``, so generated and human papers are scored alike."""
    parts = [
        f"\\title{{{row.get('title', '')}}}",
        f"\\begin{{abstract}}\n{row.get('abstract', '')}\n\\end{{abstract}}",
    ]
    for section in row.get("sections") or []:
        heading, body = (
            (section["heading"], section["latex"]) if isinstance(section, dict) else section
        )
        parts.append(f"\\section{{{heading}}}\n{body}")
    return "\n\n".join(parts)


def read_text_files(
    paths: Sequence[str], label: int, default_format: str | None = None
) -> tuple[list[Row], list[Row]]:
    """Rows of JSONL files (``{"id", "text", "format"}``, or generated-paper rows with ``title``,
    ``abstract`` and ``sections`` such as the researcher's ``papers.jsonl``); ``.txt/.tex/.md``
    files are one text each."""
    rows: list[Row] = []
    rejects: list[Row] = []
    for path_str in paths:
        path = Path(path_str)
        if path.suffix in (".txt", ".tex", ".md"):
            raw: Iterable[tuple[int, Any]] = [
                (0, {"id": path.stem, "text": path.read_text(encoding="utf-8")})
            ]
        else:
            raw = _jsonl(path, rejects)
        for i, obj in raw:
            row, reason = _check(obj, label, str(path), i, default_format)
            if row is None:
                rejects.append({"source": str(path), "id": f"line {i + 1}", "reason": reason})
            else:
                rows.append(row)
    return rows, rejects


def _jsonl(path: Path, rejects: list[Row]) -> Iterable[tuple[int, Any]]:
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as err:
                rejects.append(
                    {"source": str(path), "id": f"line {i + 1}", "reason": f"invalid JSON: {err}"}
                )


REVIEW_FIELDS = ("summary", "strengths", "weaknesses", "questions", "suggestions")


def review_text(review: Any) -> str:
    """The prose of a human review (scores left out: the detector reads language, not numbers)."""
    parts = [
        f"## {name.title()}\n\n{getattr(review, name).strip()}"
        for name in REVIEW_FIELDS
        if getattr(review, name, "").strip()
    ]
    return "\n\n".join(parts)


def corpus_texts(root: str | None = None) -> tuple[list[Row], list[Row]]:
    """Human papers and reviews of a corpus in cycle.data's raw layout (default: its bundled sample).

    Imported lazily: integrity depends only on core, and reads the corpus only when asked to.
    """
    try:
        from cycle.data.arxiv import iter_source_folders, load_arxiv_paper
        from cycle.data.openreview import iter_forums
        from cycle.data.stages import sample_dir
    except ImportError as err:
        raise RuntimeError(
            "detect.human_corpus needs the cycle-data package (pip install -e packages/data); "
            "or list human texts in detect.human_files"
        ) from err
    base = Path(root) if root else sample_dir()
    if not base.is_dir():
        raise FileNotFoundError(
            f"no corpus at {base}; set detect.human_files or detect.human_corpus"
        )
    rows: list[Row] = []
    rejects: list[Row] = []
    seen: set[str] = set()

    def add(row_id: str, fmt: str, text: str, source: str) -> None:
        if row_id in seen:
            return
        seen.add(row_id)
        if text.strip():
            rows.append({"id": row_id, "format": fmt, "label": 0, "text": text, "source": source})
        else:
            rejects.append({"source": source, "id": row_id, "reason": "empty text"})

    def problems_to_rejects(problems: Iterable[Any], source: str) -> None:
        for p in problems:
            rejects.append(
                {
                    "source": source,
                    "id": str(getattr(p, "record", "")),
                    "reason": str(getattr(p, "reason", p)),
                }
            )

    arxiv = base / "arxiv"
    if arxiv.is_dir():
        for folder in iter_source_folders(arxiv):
            paper, problems = load_arxiv_paper(folder, data_root=arxiv)
            if paper is None:
                problems_to_rejects(problems, str(folder))
                continue
            add(f"paper:{paper.paper_id}", "paper", paper.text, str(folder))
    forums = base / "openreview"
    if forums.is_dir():
        for reviewed, problems in iter_forums(forums):
            if reviewed is None:
                problems_to_rejects(problems, str(forums))
                continue
            paper = reviewed.paper
            if paper.sections:
                add(f"paper:{paper.paper_id}", "paper", paper.text, paper.source or str(forums))
            for k, review in enumerate(reviewed.reviews):
                add(
                    f"review:{paper.paper_id}:{k}",
                    "review",
                    review_text(review),
                    paper.source or str(forums),
                )
    return rows, rejects
