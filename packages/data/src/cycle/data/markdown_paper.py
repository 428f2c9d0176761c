"""A paper's Markdown (a PDF->Markdown conversion such as Docling's or MagicDoc's) -> title,
abstract and sections, cleaned the way the LaTeX path cleans a paper (paper §2.1).

The one rule, for every Markdown source (``paper.md``, an export's ``parsed_pdfs/<id>.pdf.md``,
and a PDF's extracted text once its headings are marked):

- Front matter is dropped for anonymity: everything before the ``Abstract`` heading (the title,
  author names, affiliations, e-mails). Without an ``Abstract`` heading the body starts at the
  first introduction heading (``1 Introduction``, ``Introduction``); a text with neither is
  refused, since its author block cannot be found.
- Sections are split at ``#`` / ``##`` headings (Docling writes every heading as ``##``); deeper
  headings stay inside their section.
- Acknowledgments sections are dropped, as on the LaTeX path.
- The bibliography is cut: the text stops at the first ``References`` / ``Bibliography`` heading.
  With ``keep_appendix`` the reference section alone (up to the next heading) is dropped and
  what follows it (appendices, checklists) is kept.
- Image placeholders (``<!-- image -->``) are removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADING = re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_IMAGE = re.compile(r"^[ \t]*<!--\s*image\s*-->[ \t]*\n?", re.MULTILINE)
_NUMBER = r"(?:[0-9]+|[IVX]+)(?:\.[0-9]+)*\.?"
_ABSTRACT = re.compile(r"^(?:abstract|summary)\.?:?$", re.IGNORECASE)
_INTRODUCTION = re.compile(rf"^(?:{_NUMBER}\s*)?introduction\.?$", re.IGNORECASE)
_REFERENCES = re.compile(
    rf"^(?:{_NUMBER}\s*)?(?:references?|bibliography|literature cited|references and notes)\.?$",
    re.IGNORECASE,
)
_ACKNOWLEDGMENTS = re.compile(
    r"^(?:[0-9]+\.?\s*)?acknowledge?ments?\.?$|^acknowledge?ments? and disclosure of funding$",
    re.IGNORECASE,
)


class NoPaperBody(ValueError):
    """The Markdown has no Abstract or Introduction heading: its author block cannot be cut."""


@dataclass
class MarkdownPaper:
    title: str = ""
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)


def _plain(heading: str) -> str:
    """A heading without emphasis markers and surrounding spaces."""
    return heading.replace("**", "").replace("__", "").strip()


def markdown_headings(text: str, max_level: int = 2) -> list[tuple[int, int, str]]:
    """``(start, end, title)`` of every heading up to ``max_level``, in order."""
    return [
        (m.start(), m.end(), _plain(m.group(2)))
        for m in _HEADING.finditer(text)
        if len(m.group(1)) <= max_level
    ]


def markdown_sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) per ``#``/``##`` heading; text before the first heading is dropped."""
    heads = markdown_headings(text)
    return [
        (title, text[end : heads[i + 1][0] if i + 1 < len(heads) else len(text)].strip())
        for i, (_, end, title) in enumerate(heads)
    ]


def clean_markdown_paper(text: str, keep_appendix: bool = False) -> MarkdownPaper:
    """The module's rule (see the docstring above); ``NoPaperBody`` when no body is found."""
    text = _IMAGE.sub("", text.replace("\r\n", "\n"))
    sections = markdown_sections(text)
    start = next((i for i, (h, _) in enumerate(sections) if _ABSTRACT.match(h)), None)
    if start is None:
        start = next((i for i, (h, _) in enumerate(sections) if _INTRODUCTION.match(h)), None)
    if start is None:
        raise NoPaperBody("no Abstract or Introduction heading: the author block cannot be cut")
    title = sections[0][0] if start > 0 else ""
    paper = MarkdownPaper(title=title)
    for heading, body in sections[start:]:
        if _REFERENCES.match(heading):
            if keep_appendix:
                continue
            break
        if _ABSTRACT.match(heading) and not paper.abstract and not paper.sections:
            paper.abstract = body
        elif not _ACKNOWLEDGMENTS.match(heading):
            paper.sections.append((heading, body))
    return paper
