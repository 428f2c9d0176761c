"""The bibliography of a Research-14K user turn (docs/formats.md §3, message 2) read back as references.

Released rows keep the bib keys the paper cites only in this turn: BibTeX entries (an
``Abstract: ...`` line directly above an entry, or an ``abstract`` field inside it) or, in some
rows, ``\\bibitem`` entries. Their ``references`` column holds Semantic Scholar records (``paperId``,
which may be null, ``title``, ``abstract``) without keys. ``parse_bibliography_turn`` reads the
entries in order; ``merge_references`` matches them to the S2 records by normalized title and
keeps the S2 records nothing matched, so no reference is lost.

The turn is scanned once (entry starts found by one anchored pattern, BibTeX entries ended by
brace matching), so the cost is linear in its length.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from cycle.data.abstracts import normalize_title
from cycle.data.bibtex import parse_bibtex
from cycle.data.paper_conversation import USER_INSTRUCTION
from cycle.data.records import Reference

# One entry start per match: an Abstract line, a BibTeX entry, or a \bibitem (each at a line start).
_MARKER = re.compile(r"^[ \t]*(?:(Abstract:)|(@[A-Za-z]+[ \t]*[{(])|(\\bibitem)\b)", re.MULTILINE)
_BIB_KEY = re.compile(r"@[A-Za-z]+[ \t]*[{(][ \t\n]*([^,\s]+)")
_BIBITEM = re.compile(r"\\bibitem\s*")
_NEWBLOCK = re.compile(r"\\newblock\b")
_DELIMITERS = re.compile(r"[{}()]")
_NOT_AN_ENTRY = re.compile(r"@(?:string|preamble|comment)\b", re.IGNORECASE)
_TOPIC = re.compile(r"\AGenerate a research paper on the topic:[^\n]*\n")
_FUZZY_MATCH = 0.92  # SequenceMatcher ratio of normalized titles that counts as the same work


@dataclass
class TurnBibliography:
    """The references of one user turn, in order, and what could not be read."""

    references: list[Reference] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _closing_brace(text: str, start: int) -> int | None:
    """Index just past the entry whose delimiter opens at ``text[start]`` (``{`` or ``(``): the
    matching ``}``, or for ``(`` the first ``)`` outside braces; None when it never closes."""
    paren = text[start] == "("
    depth = 0
    for m in _DELIMITERS.finditer(text, start):
        c = m.group()
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0 and not paren:
                return m.end()
        elif c == ")" and paren and depth == 0:
            return m.end()
    return None


def _bibitem_key(raw: str) -> tuple[str, int]:
    """The key of the ``\\bibitem`` that starts ``raw`` and the index its text starts at ("" and
    the start when it has none).

    The optional label may span lines and hold braces (natbib writes ``[{Ng et~al.}(2019)Ng,
    Ho, and<newline>Lee]``), so it ends at the first ``]`` outside braces, not at a line end.
    """
    m = _BIBITEM.match(raw)
    if m is None:
        return "", 0
    i, depth = m.end(), 0
    if raw.startswith("[", i):
        for j in range(i + 1, len(raw)):
            c = raw[j]
            if c == "{" and raw[j - 1] != "\\":
                depth += 1
            elif c == "}" and raw[j - 1] != "\\":
                depth = max(depth - 1, 0)
            elif c == "]" and depth == 0:
                i = j + 1
                break
        else:
            return "", m.end()  # the label never closes
        while i < len(raw) and raw[i].isspace():
            i += 1
    end = raw.find("}", i) if raw.startswith("{", i) else -1
    if end < 0:
        return "", i
    return raw[i + 1 : end].strip(), end + 1


def _bibitem_reference(raw: str) -> Reference:
    """Key, authors and title of a ``\\bibitem`` (``\\newblock`` parts, else its sentences)."""
    from cycle.data.outline import latex_to_text

    key, start = _bibitem_key(raw)
    body = raw[start:]
    parts = [latex_to_text(p) for p in _NEWBLOCK.split(body)]
    parts = [p.strip(" .") for p in parts if p.strip(" .")]
    if len(parts) < 2:
        parts = [s.strip() for s in re.split(r"(?<=[a-z0-9\]\)])\.\s+", " ".join(parts)) if s]
    authors = re.split(r",\s*(?:and\s+)?|\s+and\s+", parts[0]) if len(parts) > 1 else []
    year = re.search(r"\b(19\d\d|20\d\d)\b", body)
    return Reference(
        key=key,
        title=parts[1] if len(parts) > 1 else (parts[0] if parts else ""),
        authors=[a.strip() for a in authors if a.strip()],
        year=int(year.group(1)) if year else None,
        venue=parts[2] if len(parts) > 2 else "",
        bibtex=raw.strip(),
    )


def parse_bibliography_turn(text: str) -> TurnBibliography:
    """Every BibTeX / ``\\bibitem`` entry of a user turn, with the abstract line above it."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if (cut := text.rfind(USER_INSTRUCTION)) >= 0:
        text = text[:cut]
    text = _TOPIC.sub("", text, count=1)
    out = TurnBibliography()
    # (kind, raw text, abstract) per entry, in order
    entries: list[tuple[str, str, str]] = []
    abstract: str | None = None
    pos = 0
    while (m := _MARKER.search(text, pos)) is not None:
        nxt = _MARKER.search(text, m.end())
        segment_end = nxt.start() if nxt else len(text)
        if m.group(1):
            if abstract is not None:
                out.problems.append(f"an Abstract line without an entry: {abstract[:60]!r}")
            abstract = " ".join(text[m.end() : segment_end].split())
            pos = segment_end
            continue
        if m.group(2):
            end = _closing_brace(text, m.end() - 1)
            if end is None:
                out.problems.append(f"unbalanced braces in {text[m.start(2) : segment_end][:60]!r}")
                end = segment_end
            kind = "macro" if _NOT_AN_ENTRY.match(m.group(2)) else "bibtex"
            entries.append((kind, text[m.start(2) : end], abstract or ""))
            pos = end
        else:
            entries.append(("bibitem", text[m.start(3) : segment_end], abstract or ""))
            pos = segment_end
        abstract = None
    if abstract is not None:
        out.problems.append(f"an Abstract line without an entry: {abstract[:60]!r}")
    parsed = parse_bibtex("\n\n".join(raw for kind, raw, _ in entries if kind != "bibitem"))
    out.problems += [p.reason for p in parsed.problems]
    by_key = {r.key: r for r in parsed.references}
    for kind, raw, line_abstract in entries:
        if kind == "macro":
            continue  # @string / @preamble / @comment: parsed above, not a reference
        if kind == "bibitem":
            ref = _bibitem_reference(raw)
        else:
            m = _BIB_KEY.match(raw)
            ref = by_key.get(m.group(1).rstrip(",") if m else "")
            if ref is None:
                continue  # reported by parse_bibtex as a malformed block
            if line_abstract:
                ref.bibtex = raw.strip()  # shown in the prompt as released
        if line_abstract:
            ref.abstract = line_abstract
        if not ref.key:
            out.problems.append(f"an entry without a key: {raw[:60]!r}")
        out.references.append(ref)
    return out


def _fallback_key(record: Mapping[str, Any], index: int) -> str:
    return str(record.get("paperId") or f"ref{index + 1}")


def _title_key(title: str) -> str:
    """Letters and digits of a title, accents folded (``Müller`` and ``Muller`` agree)."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    return normalize_title(folded)


def _closest(norm: str, by_title: Mapping[str, list[int]], used: set[int]) -> int | None:
    """The unused record whose normalized title is at least ``_FUZZY_MATCH`` similar, if any."""
    best, hit = _FUZZY_MATCH, None
    for title, ids in by_title.items():
        free = [i for i in ids if i not in used]
        if not free or not title:
            continue
        matcher = SequenceMatcher(None, norm, title)
        if matcher.real_quick_ratio() >= best and matcher.quick_ratio() >= best:
            ratio = matcher.ratio()
            if ratio >= best:
                best, hit = ratio, free[0]
    return hit


def merge_references(
    turn: Iterable[Reference], records: Iterable[Mapping[str, Any]]
) -> tuple[list[Reference], int]:
    """The turn's references enriched by the S2 records of the same title (paper id, a missing
    abstract), then every S2 record nothing matched, keyed by its ``paperId`` (or ``ref<i>``).

    Returns the references and how many turn entries found an S2 record.
    """
    records = list(records)
    by_title: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_title.setdefault(_title_key(r.get("title") or ""), []).append(i)
    used: set[int] = set()
    out: list[Reference] = []
    matched = 0
    for ref in turn:
        norm = _title_key(ref.title)
        hit = next((i for i in by_title.get(norm, []) if i not in used), None) if norm else None
        if hit is None and norm:
            hit = _closest(norm, by_title, used)
        if hit is not None:
            used.add(hit)
            matched += 1
            record = records[hit]
            ref.paper_id = ref.paper_id or str(record.get("paperId") or "")
            ref.abstract = ref.abstract or (record.get("abstract") or "")
            ref.title = ref.title or (record.get("title") or "")
        out.append(ref)
    keys = {r.key for r in out}
    for i, record in enumerate(records):
        if i in used:
            continue
        key = _fallback_key(record, i)
        while key in keys:
            key += "_"
        keys.add(key)
        out.append(
            Reference(
                key=key,
                title=record.get("title") or "",
                abstract=record.get("abstract") or "",
                paper_id=str(record.get("paperId") or ""),
            )
        )
    return out, matched
