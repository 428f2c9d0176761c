"""An arXiv source folder (LaTeX + .bib + optional ``metadata.json``) -> ``Paper``.

``metadata.json`` (optional) may hold ``arxiv``, ``title``, ``authors``, ``date`` (YYYY-MM-DD),
``year``, ``venue``, ``decision``; the LaTeX title wins over the metadata title when both exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cycle.data.bibtex import read_bib_files
from cycle.data.ids import check_date, check_record_id
from cycle.data.latex_document import LatexDocument, parse_document
from cycle.data.latex_source import LatexError, expand_file, find_main_file
from cycle.data.problems import Problem
from cycle.data.records import Paper
from cycle.data.schemas import DEFAULT_LIMITS, FileLimits
from cycle.data.source_files import SourceRoot, UnsafeFile

YEARS = range(1900, 2101)  # a metadata year outside is a typo (or an attack), not a paper


def iter_source_folders(root: str | Path) -> Iterator[Path]:
    """Sub-folders of ``root`` holding a LaTeX source, in name order (streamed, not listed twice)."""
    for path in sorted(Path(root).iterdir()):
        if path.is_dir() and (any(path.glob("*.tex")) or (path / "metadata.json").exists()):
            yield path


def check_metadata(meta: Any) -> dict[str, Any]:
    """``metadata.json`` checked field by field against what a Research-14K row can hold;
    ``ValueError`` names the first field that cannot be stored."""
    if not isinstance(meta, dict):
        raise ValueError("metadata.json is not a JSON object")
    for key in ("arxiv", "title", "date", "venue", "decision"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            raise ValueError(
                f"metadata.json: {key} must be a string, got {type(meta[key]).__name__}"
            )
    authors = meta.get("authors")
    if authors is not None and not (
        isinstance(authors, list)
        and all(
            isinstance(a, str) or (isinstance(a, dict) and isinstance(a.get("name"), str))
            for a in authors
        )
    ):
        raise ValueError('metadata.json: authors must be a list of names (or {"name": ...})')
    year = meta.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = meta["year"] = int(year)
    if year is not None and (
        isinstance(year, bool) or not isinstance(year, int) or year not in YEARS
    ):
        raise ValueError(
            f"metadata.json: year must be an integer in [{YEARS.start}, {YEARS.stop - 1}], got {str(year)[:40]}"
        )
    try:
        if meta.get("date"):
            check_date(meta["date"])
        if meta.get("arxiv"):
            check_record_id(meta["arxiv"], "arxiv id")
    except ValueError as err:
        raise ValueError(f"metadata.json: {err}") from None
    return meta


def _metadata(source: SourceRoot) -> dict[str, Any]:
    path = source.root / "metadata.json"
    if not path.exists() and not path.is_symlink():
        return {}
    return check_metadata(source.read_json(path))


def _bib_paths(source: SourceRoot, main: Path, names: list[str]) -> tuple[list[Path], list[str]]:
    """The ``\\bibliography`` files (each checked by ``source``), or every .bib of the folder;
    plus why named files were refused."""
    paths, refused = [], []
    for name in names:
        name = name.strip()
        candidates = [
            main.parent / name,
            main.parent / f"{name}.bib",
            source.root / name,
            source.root / f"{name}.bib",
        ]
        found = [c for c in candidates if c.suffix == ".bib" and (c.exists() or c.is_symlink())]
        if not found:
            continue
        try:
            paths.append(source.check(found[0]))
        except UnsafeFile as err:
            refused.append(f"\\bibliography{{{name}}} not read: {err}")
    return (paths or source.files("*.bib")), refused


def _year(meta: dict[str, Any]) -> int | None:
    if meta.get("year") is not None:
        return int(meta["year"])
    date = str(meta.get("date") or "")[:4]
    return int(date) if date.isdigit() else None


def load_arxiv_paper(
    folder: str | Path,
    only_cited: bool = True,
    keep_appendix: bool = False,
    limits: FileLimits = DEFAULT_LIMITS,
    data_root: str | Path | None = None,
) -> tuple[Paper | None, list[Problem]]:
    """Parse one source folder. Fatal problems return ``(None, problems)``; nothing raises.

    ``only_cited`` keeps the bib entries the text cites (in bib order); a paper without any
    ``\\cite`` keeps all entries. Files are read only inside the folder (which must itself lie
    inside ``data_root`` when given), within ``limits``.
    """
    folder = Path(folder)
    src = str(folder)
    try:
        source = SourceRoot.for_record(folder, data_root, **limits.as_kwargs())
        meta = _metadata(source)
        record = meta.get("arxiv") or check_record_id(folder.name, "folder name (the arxiv id)")
        main = find_main_file(source.root, source)
        text, input_problems = expand_file(main, source)
        doc = parse_document(text, keep_appendix=keep_appendix)
        return _paper(source, src, record, meta, main, doc, input_problems, only_cited)
    except (LatexError, ValueError, OSError) as err:
        return None, [Problem("paper", src, folder.name, f"{type(err).__name__}: {err}")]
    except Exception as err:  # a parser bug must not stop the batch; report it with its type
        return None, [Problem("paper", src, folder.name, f"unexpected {type(err).__name__}: {err}")]


def _paper(
    source: SourceRoot,
    src: str,
    record: str,
    meta: dict[str, Any],
    main: Path,
    doc: LatexDocument,
    input_problems: list[str],
    only_cited: bool,
) -> tuple[Paper | None, list[Problem]]:
    problems = [
        Problem("latex", src, record, p, dropped=False) for p in input_problems + doc.problems
    ]
    if not doc.sections:
        return None, [*problems, Problem("paper", src, record, "no sections in the LaTeX body")]

    bib_paths, refused = _bib_paths(source, main, doc.bib_files)
    problems += [Problem("reference", src, record, r, dropped=False) for r in refused]
    bib = read_bib_files(bib_paths, source)
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
    paper = Paper(
        paper_id=record,
        title=doc.title or str(meta.get("title") or ""),
        abstract=doc.abstract,
        sections=doc.sections,
        references=refs,
        figures=doc.figures,
        authors=[a if isinstance(a, str) else a["name"] for a in meta.get("authors") or []],
        venue=str(meta.get("venue") or ""),
        year=_year(meta),
        date=str(meta.get("date") or ""),
        decision=str(meta.get("decision") or ""),
        source=src,
    )
    return paper, problems
