"""A reviewed paper's text from what its source offers: LaTeX, else Markdown, else a PDF.

Paper §2.1: the LaTeX source where it can be had, otherwise the PDF converted to Markdown. The
first file present is used (``tex``, then ``markdown``, then ``pdf``); a file that is present but
cannot be read or parsed rejects the record with the reason rather than falling back silently.
A PDF is converted at build time with pypdf (the ``pdf`` extra of cycle-data: BSD-licensed,
pure Python, no system libraries); its text gets Markdown headings for the lines that look like
section titles and then goes through the one Markdown cleaning rule (``markdown_paper``).
Every file is read through the record's ``SourceRoot``.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from cycle.data.latex_document import parse_document
from cycle.data.latex_source import expand_file
from cycle.data.markdown_paper import clean_markdown_paper
from cycle.data.source_files import SourceRoot, UnsafeFile

TEXT_SOURCES = ("tex", "markdown", "pdf")
ABSTRACT_ONLY = "abstract"

# A PDF line that is a section title: "Abstract", "References", "1 Introduction", "3.2 Setup",
# "A Proofs" -- short, capitalised, without a closing full stop.
_PDF_NAMED = re.compile(
    r"^(abstract|introduction|references|bibliography|acknowledge?ments?|conclusions?)$",
    re.IGNORECASE,
)
_PDF_NUMBERED = re.compile(r"^(?:[1-9][0-9]?|[A-H])(?:\.[0-9]{1,2})*\.?\s+[A-Z][^.]{1,70}$")
_PDF_ABSTRACT_INLINE = re.compile(r"^abstract\s*[.:\u2014-]\s*(\S.*)$", re.IGNORECASE)


class PaperTextError(ValueError):
    """A text file that is present but gives no usable paper; the message is the reason."""


@dataclass
class PaperText:
    title: str = ""
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    text_source: str = ""  # tex | markdown | pdf
    path: str = ""
    figures: list[str] = field(default_factory=list)  # graphics files the LaTeX includes
    problems: list[str] = field(default_factory=list)


def pdf_markdown(data: bytes) -> str:
    """A PDF's text (pypdf, page by page) with ``##`` on the lines that look like headings; the
    first line (the title, in a paper) becomes a heading too, so the author block after it is cut
    like a converter's."""
    try:
        from pypdf import PdfReader
    except ImportError as err:
        raise PaperTextError(
            "paper.pdf needs pypdf: pip install 'cycle-data[pdf]' (or provide paper.md)"
        ) from err
    try:
        pages = [page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages]
    except Exception as err:  # pypdf raises many types on a broken file
        raise PaperTextError(f"unreadable PDF ({type(err).__name__}: {err})") from None
    lines = [line.strip() for page in pages for line in page.splitlines()]
    out: list[str] = []
    for line in lines:
        if not line:
            continue
        if inline := _PDF_ABSTRACT_INLINE.match(line):
            out += ["", "## Abstract", "", inline.group(1)]
        elif not out or _PDF_NAMED.match(line) or _PDF_NUMBERED.match(line):
            out += ["", f"## {line}", ""]
        else:
            out.append(line)
    return "\n".join(out).strip() + "\n"


def _from_markdown(text: str, keep_appendix: bool, source: str) -> PaperText:
    paper = clean_markdown_paper(text, keep_appendix)
    if not paper.sections:
        raise PaperTextError("no section after the abstract")
    return PaperText(paper.title, paper.abstract, paper.sections, source)


def read_paper_text(
    files: SourceRoot, candidates: dict[str, Path], keep_appendix: bool = False
) -> PaperText | None:
    """The text of the first present candidate (keys from ``TEXT_SOURCES``), None when none is
    present; ``PaperTextError`` / ``UnsafeFile`` when the present one is unusable."""
    for kind in TEXT_SOURCES:
        path = candidates.get(kind)
        if path is None or not (path.exists() or path.is_symlink()):
            continue
        name = files.name(path)
        try:
            if kind == "tex":
                text, problems = expand_file(path, files)
                doc = parse_document(text, keep_appendix=keep_appendix)
                if not doc.sections:
                    raise PaperTextError("no sections")
                found = PaperText(doc.title, doc.abstract, doc.sections, kind)
                found.problems, found.figures = problems + doc.problems, doc.figures
            elif kind == "markdown":
                found = _from_markdown(files.read_text(path), keep_appendix, kind)
            else:
                found = _from_markdown(pdf_markdown(files.read_bytes(path)), keep_appendix, kind)
        except UnsafeFile as err:  # its message names the file
            raise PaperTextError(str(err)) from None
        except ValueError as err:  # PaperTextError, NoPaperBody
            raise PaperTextError(f"{name}: {err}") from None
        found.path = str(path)
        return found
    return None
