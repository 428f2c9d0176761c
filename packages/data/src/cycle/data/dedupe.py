"""Duplicate records: the same id (arXiv versions merged), or the same title once normalised.

Raw dumps repeat papers (a forum crawled twice, ``2401.12345v1`` and ``v2`` under two folders, a
renamed resubmission); kept twice, one copy can land in train and the other in test. A record
is checked with ``duplicate_of`` and remembered with ``add`` only once it is kept, so an
accepted paper is not dropped as the twin of a rejected one that never made it in. The first
record kept wins; later ones are rejected with the record they duplicate.
"""

from __future__ import annotations

import re
import unicodedata

from pylatexenc.latex2text import LatexNodes2Text

from cycle.data.ids import arxiv_base_id

MAX_TITLE_CHARS = 1000  # titles are short; a longer one is cut before the LaTeX is read
_TO_TEXT = LatexNodes2Text()
_MARKUP = re.compile(r"\\[A-Za-z]+\*?|[{}$^_\\]")


def _latex_text(title: str) -> str:
    try:
        return _TO_TEXT.latex_to_text(title)
    except Exception:  # pylatexenc is tolerant; deep nesting may still raise RecursionError
        return _MARKUP.sub(" ", title)


def dedup_title_key(title: str) -> str:
    """LaTeX markup read as text (``$\\alpha$`` -> ``α``, ``\\emph{x}`` -> ``x``), NFKC,
    casefolded, and only letters and digits of any script kept: ``α-Net`` and ``β-Net`` stay
    apart, and a title in Chinese or Russian is compared like any other."""
    text = _latex_text(title[:MAX_TITLE_CHARS]) if "\\" in title or "$" in title else title
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


class Deduper:
    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._titles: dict[str, str] = {}
        self.merged = 0

    def duplicate_of(self, record_id: str, title: str) -> str | None:
        """Why this record duplicates one already kept, or None (nothing is remembered)."""
        base = arxiv_base_id(record_id)
        key = dedup_title_key(title)
        if base in self._ids:
            same = "same id" if self._ids[base] == record_id else "same arXiv id, other version"
            reason = f"duplicate of {self._ids[base]} ({same})"
        elif key and key in self._titles:
            reason = f"duplicate of {self._titles[key]} (same normalised title)"
        else:
            return None
        self.merged += 1
        return reason

    def add(self, record_id: str, title: str) -> None:
        """Remember a record that was kept."""
        self._ids.setdefault(arxiv_base_id(record_id), record_id)
        if key := dedup_title_key(title):
            self._titles.setdefault(key, record_id)
