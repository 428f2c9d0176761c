"""A flattened, comment-free LaTeX document -> title, abstract, sections, citations.

The document is parsed with ``LatexWalker``: the title and abstract are read from their
macro/environment nodes, the body is split into top-level ``\\section`` s with node offsets
(subsections stay inside their section's LaTeX), and acknowledgements
(``\\section*{Acknowledgments}``, ``ack`` environments, ack paragraphs) are dropped. Malformed
input (unbalanced braces, unterminated environments) is parsed tolerantly and reported.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from pylatexenc.latexwalker import (
    LatexEnvironmentNode,
    LatexMacroNode,
    LatexNode,
    LatexWalkerError,
)

from cycle.data.latex_parser import arg_text, drop_macros, latex_walker, splice, walk
from cycle.data.latex_repair import balance_environments

SECTION_LEVELS = {"part": 0, "section": 1, "subsection": 2, "subsubsection": 3, "paragraph": 4}
TITLE_MACROS = ("title", "icmltitle")
ACK_ENVIRONMENTS = frozenset(
    {"ack", "acks", "acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement"}
)
# Macros that carry no paper content once the document is flattened.
DROPPED_MACROS = frozenset(
    {"bibliography", "bibliographystyle", "printbibliography", "addbibresource", "maketitle"}
)

_ACK_HEADING = re.compile(r"acknowledge?ments?|funding", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass
class LatexDocument:
    """What the parser read from one flattened document; ``problems`` are non-fatal."""

    title: str = ""
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    cited_keys: list[str] = field(default_factory=list)  # order of first citation
    bib_files: list[str] = field(default_factory=list)  # names given to \bibliography
    figures: list[str] = field(default_factory=list)  # \includegraphics paths
    problems: list[str] = field(default_factory=list)


def _clean_inline(latex: str) -> str:
    """A title for metadata: ``\\thanks`` removed, ``\\\\`` and newlines as spaces."""
    if "\\" not in latex:  # no macro to drop (most headings): skip the two parses
        return " ".join(latex.split())
    latex = drop_macros(latex, {"thanks", "footnote", "label"})
    return " ".join(drop_macros(latex, {"\\", "newline"}, " ").split())


def _tidy(latex: str) -> str:
    return _BLANK_LINES.sub("\n\n", latex).strip()


def _env_body(text: str, node: LatexEnvironmentNode) -> str:
    raw = text[node.pos : node.pos + node.len]
    raw = re.sub(r"^\\begin\s*\{[^}]*\}", "", raw)
    return re.sub(r"\\end\s*\{[^}]*\}$", "", raw)


def _split_keys(arg: str | None) -> list[str]:
    return [k.strip() for k in (arg or "").split(",") if k.strip()]


def parse_document(text: str, keep_appendix: bool = False) -> LatexDocument:
    """Title, abstract, sections and citations of a flattened, comment-free LaTeX document.

    The body is the ``document`` environment when there is one (else the whole text). Sections
    are the top-level ``\\section`` commands, starred or not; the text before the first section
    (``\\maketitle``, teaser figures) is not a section. Parsing stops at ``\\appendix`` unless
    ``keep_appendix``.
    """
    doc = LatexDocument()
    try:
        nodes, _, _ = latex_walker(text, tolerant=False).get_latex_nodes()
    except LatexWalkerError as err:
        doc.problems.append(f"malformed LaTeX (parsed tolerantly): {str(err).splitlines()[0]}")
        text, repairs = balance_environments(text)
        doc.problems += repairs
        nodes, _, _ = latex_walker(text).get_latex_nodes()

    all_nodes = list(walk(nodes))
    for node in all_nodes:
        if isinstance(node, LatexMacroNode):
            name = node.macroname
            if name in TITLE_MACROS and not doc.title and (arg := arg_text(text, node)) is not None:
                doc.title = _clean_inline(arg)
            elif name == "abstract" and not doc.abstract and (arg := arg_text(text, node)):
                doc.abstract = _tidy(arg)
            elif name in ("bibliography", "addbibresource"):
                doc.bib_files += _split_keys(arg_text(text, node))
            elif name == "includegraphics" and (arg := arg_text(text, node)):
                doc.figures.append(arg.strip())
            elif re.fullmatch(r"(no)?[cC]ite[a-z]*", name):
                doc.cited_keys += [
                    k for k in _split_keys(arg_text(text, node)) if k not in doc.cited_keys
                ]
        elif (
            isinstance(node, LatexEnvironmentNode)
            and node.environmentname == "abstract"
            and not doc.abstract
        ):
            doc.abstract = _tidy(_env_body(text, node))
    doc.cited_keys = [k for k in doc.cited_keys if k != "*"]

    body = next(
        (
            n
            for n in nodes
            if isinstance(n, LatexEnvironmentNode) and n.environmentname == "document"
        ),
        None,
    )
    body_nodes = [n for n in (body.nodelist if body else nodes) if n is not None]
    doc.sections = _split_sections(text, body_nodes, keep_appendix)
    if not doc.sections:
        doc.problems.append("no \\section found in the document body")
    return doc


def _heading_level(node: LatexNode) -> int | None:
    if isinstance(node, LatexMacroNode):
        return SECTION_LEVELS.get(node.macroname)
    return None


def _split_sections(
    text: str, nodes: list[LatexNode], keep_appendix: bool
) -> list[tuple[str, str]]:
    stop = len(text)
    if not keep_appendix:
        for n in nodes:
            if isinstance(n, LatexMacroNode) and n.macroname == "appendix":
                stop = n.pos
                break
    heads = [n for n in nodes if _heading_level(n) == 1 and n.pos < stop]
    body_end = max((n.pos + n.len for n in nodes), default=len(text))
    positions = [n.pos for n in nodes]  # document order: each section's nodes found by bisection
    sections = []
    for i, head in enumerate(heads):
        heading = _clean_inline(arg_text(text, head) or "")
        if _ACK_HEADING.fullmatch(heading.strip(" .:")):
            continue
        start = head.pos + head.len
        end = heads[i + 1].pos if i + 1 < len(heads) else min(stop, body_end)
        inner = nodes[bisect_left(positions, start) : bisect_left(positions, end)]
        sections.append((heading, _tidy(_section_body(text, start, end, inner))))
    return sections


def _section_body(text: str, start: int, end: int, nodes: list[LatexNode]) -> str:
    """A section's LaTeX without acknowledgement blocks and bibliography commands."""
    edits = []
    for i, node in enumerate(nodes):
        if (
            isinstance(node, LatexEnvironmentNode)
            and node.environmentname in ACK_ENVIRONMENTS
            or isinstance(node, LatexMacroNode)
            and node.macroname in DROPPED_MACROS
        ):
            edits.append((node.pos, node.pos + node.len, ""))
        elif (level := _heading_level(node)) is not None:
            heading = _clean_inline(arg_text(text, node) or "")
            if _ACK_HEADING.fullmatch(heading.strip(" .:")):
                nxt = next(
                    (n.pos for n in nodes[i + 1 :] if (_heading_level(n) or 99) <= level), end
                )
                edits.append((node.pos, nxt, ""))
    local = [(s - start, min(e, end) - start, r) for s, e, r in edits]
    return splice(text[start:end], local)
