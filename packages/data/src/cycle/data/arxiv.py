"""An arXiv source folder (LaTeX + .bib + optional ``metadata.json``) -> ``Paper``.

``metadata.json`` (optional) may hold ``arxiv``, ``title``, ``authors``, ``date`` (YYYY-MM-DD),
``year``, ``venue``, ``decision``; the LaTeX title wins over the metadata title when both exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.data.bibtex import read_bib_files
from cycle.data.latex import LatexError, expand_file, find_main_file, parse_document
from cycle.data.problems import Problem
from cycle.data.records import Paper


def iter_source_folders(root: str | Path) -> Iterator[Path]:
    """Sub-folders of ``root`` holding a LaTeX source, in name order (streamed, not listed twice)."""
    for path in sorted(Path(root).iterdir()):
        if path.is_dir() and (any(path.glob("*.tex")) or (path / "metadata.json").is_file()):
            yield path


def _metadata(folder: Path) -> dict[str, Any]:
    path = folder / "metadata.json"
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("metadata.json is not a JSON object")
    return data


def _bib_paths(folder: Path, main: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        name = name.strip()
        for cand in (
            main.parent / name,
            main.parent / f"{name}.bib",
            folder / name,
            folder / f"{name}.bib",
        ):
            if cand.is_file() and cand.suffix == ".bib":
                paths.append(cand)
                break
    return paths or sorted(folder.rglob("*.bib"))


def _year(meta: dict[str, Any]) -> int | None:
    for value in (meta.get("year"), str(meta.get("date", ""))[:4]):
        try:
            return int(value)
        except (TypeError, ValueError):
            continue
    return None


def load_arxiv_paper(
    folder: str | Path, only_cited: bool = True, keep_appendix: bool = False
) -> tuple[Paper | None, list[Problem]]:
    """Parse one source folder. Fatal problems return ``(None, problems)``; nothing raises.

    ``only_cited`` keeps the bib entries the text cites (in bib order); a paper without any
    ``\\cite`` keeps all entries.
    """
    folder = Path(folder)
    src = str(folder)
    try:
        meta = _metadata(folder)
        record = str(meta.get("arxiv") or folder.name)
        main = find_main_file(folder)
        text, input_problems = expand_file(main, folder)
        doc = parse_document(text, keep_appendix=keep_appendix)
    except (LatexError, ValueError, OSError) as err:
        return None, [Problem("paper", src, folder.name, f"{type(err).__name__}: {err}")]
    except Exception as err:  # a parser bug must not stop the batch; report it with its type
        return None, [Problem("paper", src, folder.name, f"unexpected {type(err).__name__}: {err}")]

    problems = [
        Problem("latex", src, record, p, dropped=False) for p in input_problems + doc.problems
    ]
    if not doc.sections:
        return None, [*problems, Problem("paper", src, record, "no sections in the LaTeX body")]

    bib = read_bib_files(_bib_paths(folder, main, doc.bib_files))
    problems += bib.problems
    refs = bib.references
    if not refs:
        problems.append(Problem("reference", src, record, "no BibTeX entries found", dropped=False))
    if only_cited and doc.cited_keys:
        cited = set(doc.cited_keys)
        refs = [r for r in refs if r.key in cited]
        known = {r.key for r in bib.references}
        problems += [
            Problem("reference", src, record, f"\\cite{{{k}}} has no BibTeX entry", dropped=False)
            for k in doc.cited_keys
            if k not in known
        ]
    authors = meta.get("authors") or []
    paper = Paper(
        paper_id=record,
        title=doc.title or str(meta.get("title", "")),
        abstract=doc.abstract,
        sections=doc.sections,
        references=refs,
        figures=doc.figures,
        authors=[a if isinstance(a, str) else str(a.get("name", a)) for a in authors],
        venue=str(meta.get("venue", "")),
        year=_year(meta),
        date=str(meta.get("date", "")),
        decision=str(meta.get("decision", "")),
        source=src,
    )
    return paper, problems
