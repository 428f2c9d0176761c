"""BibTeX -> ``Reference`` with bibtexparser v2.

The default parse stack resolves ``@string`` macros and removes enclosing braces; a decoded copy
(``LatexDecodingMiddleware``: ``{\\"u}`` -> ü) gives the human-readable title, authors and
abstract. ``Reference.bibtex`` is the entry re-serialized with macros resolved and the abstract
left out (the prompt puts ``Abstract: ...`` above the entry instead). Blocks bibtexparser could
not parse (``library.failed_blocks``) and duplicate keys are reported as problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import bibtexparser
import bibtexparser.middlewares as bm
from bibtexparser.library import Library
from bibtexparser.model import Entry, Field
from bibtexparser.writer import BibtexFormat

from cycle.data.problems import Problem
from cycle.data.records import Reference
from cycle.data.source_files import SourceRoot, UnsafeFile

_ARXIV_ID = re.compile(r"(\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.IGNORECASE)
_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/" + _ARXIV_ID.pattern, re.IGNORECASE)
_ARXIV_JOURNAL = re.compile(
    r"arxiv(?:\s+preprint)?\s*:?\s*(?:arxiv:)?\s*" + _ARXIV_ID.pattern, re.IGNORECASE
)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d)\b")
_READABLE = frozenset(
    {
        "title",
        "author",
        "abstract",
        "booktitle",
        "journal",
        "publisher",
        "howpublished",
        "year",
        "date",
    }
)
_FORMAT = BibtexFormat()
_FORMAT.indent = "  "


@dataclass
class BibResult:
    references: list[Reference] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _value(entry: Entry, *names: str) -> str:
    fields = {k.lower(): f.value for k, f in entry.fields_dict.items()}
    for name in names:
        value = fields.get(name)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())
    return ""


def arxiv_id(entry: Entry) -> str:
    """The arXiv id from ``eprint`` (with an arXiv archive prefix), a URL, or the journal field."""
    eprint = _value(entry, "eprint")
    prefix = _value(entry, "archiveprefix", "eprinttype").lower()
    if (
        eprint
        and (prefix in ("", "arxiv"))
        and (m := _ARXIV_ID.fullmatch(eprint.removeprefix("arXiv:")))
    ):
        return m.group(1)
    for text, pattern in (
        (_value(entry, "url"), _ARXIV_URL),
        (_value(entry, "journal", "note", "howpublished"), _ARXIV_JOURNAL),
    ):
        if text and (m := pattern.search(text)):
            return m.group(1)
    return ""


def _reference(entry: Entry, decoded: Entry) -> Reference:
    year = _YEAR.search(_value(decoded, "year", "date"))
    authors = [a.strip() for a in re.split(r"\s+and\s+", _value(decoded, "author")) if a.strip()]
    shown = Entry(
        entry.entry_type,
        entry.key,
        [Field(f.key, f.value) for f in entry.fields if f.key.lower() != "abstract"],
    )
    return Reference(
        key=entry.key,
        title=_value(decoded, "title").replace("{", "").replace("}", ""),
        abstract=_value(decoded, "abstract"),
        authors=authors,
        year=int(year.group(1)) if year else None,
        venue=_value(decoded, "booktitle", "journal", "publisher", "howpublished"),
        bibtex=bibtexparser.write_string(Library([shown]), bibtex_format=_FORMAT).strip(),
        doi=_value(entry, "doi").removeprefix("https://doi.org/"),
        arxiv=arxiv_id(entry),
    )


def _needs_decoding(value: object) -> bool:
    return isinstance(value, str) and ("\\" in value or "{" in value or "~" in value)


def _decoded(entries: list[Entry]) -> list[Entry]:
    """Entries whose human-readable fields went through ``LatexDecodingMiddleware``; only fields
    holding LaTeX are decoded (pylatexenc is slow, and most fields are plain text)."""
    slim = [
        Entry(
            e.entry_type,
            e.key,
            [
                Field(f.key, f.value)
                for f in e.fields
                if f.key.lower() in _READABLE and _needs_decoding(f.value)
            ],
        )
        for e in entries
    ]
    done = (
        bm.LatexDecodingMiddleware(allow_inplace_modification=True).transform(Library(slim)).entries
    )
    out = []
    for entry, dec in zip(entries, done, strict=True):
        values = {f.key: f.value for f in entry.fields} | {f.key: f.value for f in dec.fields}
        out.append(Entry(entry.entry_type, entry.key, [Field(k, v) for k, v in values.items()]))
    return out


def parse_bibtex(text: str, source: str = "") -> BibResult:
    """Every entry of a BibTeX string as a ``Reference``; broken blocks become problems."""
    library = bibtexparser.parse_string(text)
    decoded = _decoded(library.entries)
    result = BibResult()
    for block in library.failed_blocks:
        head = block.raw.strip().splitlines()[0][:80] if block.raw.strip() else ""
        key = (
            m.group(1)
            if (m := re.match(r"@\w+\s*[{(]\s*([^,\s]+)", head))
            else f"line {block.start_line + 1}"
        )
        error = block.error
        detail = getattr(error, "abort_reason", None) or str(error or "") or type(error).__name__
        reason = " ".join(detail.split())[:300]
        result.problems.append(
            Problem("bib_entry", source, key, f"malformed BibTeX entry: {reason}")
        )
    for entry, dec in zip(library.entries, decoded, strict=True):
        result.references.append(_reference(entry, dec))
    return result


def read_bib_files(paths: Iterable[Path], source: SourceRoot | None = None) -> BibResult:
    """Entries of several .bib files, read through ``source`` (default: each file's folder); the
    first entry of a duplicated key wins, the rest are reported."""
    result, seen = BibResult(), set()
    for path in paths:
        try:
            data = (source or SourceRoot(path.parent)).read_bytes(path)
        except (OSError, UnsafeFile) as err:
            result.problems.append(
                Problem("bib_entry", str(path), path.name, f"unreadable .bib: {err}")
            )
            continue
        text = data.decode("utf-8", errors="replace")
        part = parse_bibtex(text, source=str(path))
        result.problems += part.problems
        for ref in part.references:
            if ref.key in seen:
                result.problems.append(
                    Problem("bib_entry", str(path), ref.key, "duplicate BibTeX key")
                )
                continue
            seen.add(ref.key)
            result.references.append(ref)
    return result
