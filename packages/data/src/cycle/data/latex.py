"""LaTeX source cleaning and structure: arXiv source folder -> title, abstract, sections.

The steps, per file, in the order TeX itself would see them:

1. ``%`` comments are removed with pylatexenc's parser (so ``\\%``, ``\\verb|%|`` and verbatim
   environments survive);
2. ``comment`` environments and ``\\iffalse``/``\\if0 ... \\fi`` blocks are cut at the text level
   (TeX skips their content without reading braces, so they may hold unbalanced LaTeX);
3. ``\\input``/``\\include`` are inlined recursively (cycles and paths outside the folder are
   reported, not followed).

The assembled document is then parsed once more with ``LatexWalker``: the title and abstract are
read from their macro/environment nodes, the body is split into top-level ``\\section`` s with
node offsets (subsections stay inside their section's LaTeX), and acknowledgements
(``\\section*{Acknowledgments}``, ``ack`` environments, ack paragraphs) are dropped. Malformed
input (unbalanced braces, unterminated environments) is parsed tolerantly and reported.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pylatexenc.latexwalker import (
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexNode,
    LatexWalker,
    LatexWalkerError,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import EnvironmentSpec, LatexContextDb, MacroSpec, VerbatimArgsParser

from cycle.data.source_files import SourceRoot, UnsafeFile

MAIN_FILE_NAMES = ("main.tex", "paper.tex", "ms.tex")
SECTION_LEVELS = {"part": 0, "section": 1, "subsection": 2, "subsubsection": 3, "paragraph": 4}
TITLE_MACROS = ("title", "icmltitle")
ACK_ENVIRONMENTS = frozenset(
    {"ack", "acks", "acknowledgments", "acknowledgements", "acknowledgment", "acknowledgement"}
)
# Macros that carry no paper content once the document is flattened.
DROPPED_MACROS = frozenset(
    {"bibliography", "bibliographystyle", "printbibliography", "addbibresource", "maketitle"}
)
MAX_INPUT_DEPTH = 20

_ACK_HEADING = re.compile(r"acknowledge?ments?|funding", re.IGNORECASE)
_COMMENT_ENV = re.compile(r"\\begin\s*\{comment\}.*?(?:\\end\s*\{comment\}|\Z)", re.DOTALL)
# TeX conditionals: \if, \ifx, \ifdim, ... open; \fi closes. \ifthenelse/\iftoggle/\ifboolexpr are
# ordinary macros (no \fi), \iff is the math arrow, and \newif\iffoo only defines a conditional.
_CONDITIONAL = re.compile(
    r"(?<!\\newif)\\(?P<tok>if(?!thenelse|toggle|boolexpr|f(?![a-zA-Z@]))[a-zA-Z@]*|fi)(?![a-zA-Z@])"
)
_FALSE_IF = re.compile(r"\\iffalse(?![a-zA-Z@])|\\if\s*0(?![0-9])")
_VERBATIM = (
    r"\\begin\{(?P<env>verbatim\*?|lstlisting|minted)\}.*?\\end\{(?P=env)\}"
    r"|\\verb\*?(?P<delim>[^a-zA-Z\s*])[^\n]*?(?P=delim)"
)
_COMMENT_SCAN = re.compile(
    rf"(?P<verbatim>{_VERBATIM})|(?P<escape>\\(?:[a-zA-Z@]+|.))|(?P<comment>%[^\n]*)", re.DOTALL
)
_INPUT_SCAN = re.compile(
    rf"(?P<verbatim>{_VERBATIM})"
    r"|(?P<input>\\(?P<macro>input|include|subfile)(?![a-zA-Z@])\s*"
    r"(?:\{(?P<arg>[^{}]*)\}|(?P<bare>[^\s\\{}%]+)))"
    r"|(?P<escape>\\(?:[a-zA-Z@]+|.))",
    re.DOTALL,
)
_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


class LatexError(ValueError):
    """A source folder that cannot become a paper (no main file, no readable text)."""


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


class IndexedSpecialsDb(LatexContextDb):
    """A ``LatexContextDb`` whose ``test_for_specials`` looks candidates up by first character.

    pylatexenc tokenizes one character at a time and, at every character, tries every specials
    string of every category with ``startswith``: most of the parse time. The answer is the same:
    the longest match, the earliest category winning between equal strings.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._by_first: dict[str, list[tuple[str, object]]] | None = None

    @classmethod
    def from_db(cls, db: LatexContextDb) -> IndexedSpecialsDb:
        fast = cls()
        fast.__dict__.update(db.__dict__, _by_first=None)
        return fast

    def add_context_category(self, *args: object, **kwargs: object) -> None:
        super().add_context_category(*args, **kwargs)
        self._by_first = None

    def _index(self) -> dict[str, list[tuple[str, object]]]:
        first: dict[str, object] = {}
        for cat in self.category_list:
            for chars, spec in self.d[cat]["specials"].items():
                if chars:
                    first.setdefault(chars, spec)
        index: dict[str, list[tuple[str, object]]] = {}
        for chars in sorted(first, key=len, reverse=True):
            index.setdefault(chars[0], []).append((chars, first[chars]))
        return index

    def test_for_specials(self, s: str, pos: int, parsing_state: object = None) -> object:
        if self._by_first is None:
            self._by_first = self._index()
        for chars, spec in self._by_first.get(s[pos : pos + 1], ()):
            if s.startswith(chars, pos):
                return spec
        return None


def default_context_db() -> IndexedSpecialsDb:
    """pylatexenc's default parsing context, built once (``LatexWalker`` rebuilds it per call)."""
    return IndexedSpecialsDb.from_db(get_default_latex_context_db())


def _context_db() -> IndexedSpecialsDb:
    db = default_context_db()
    db.add_context_category(
        "cycle-extra",
        prepend=True,
        macros=[
            MacroSpec("thanks", "{"),
            MacroSpec("caption", "*[{"),
            MacroSpec("icmltitle", "{"),
            MacroSpec("paragraph", "*[{"),
            MacroSpec("addbibresource", "[{"),
            MacroSpec("printbibliography", "["),
            MacroSpec("subfile", "{"),
            MacroSpec("citealp", "*[[{"),
            MacroSpec("citealt", "*[[{"),
            MacroSpec("Citet", "*[[{"),
            MacroSpec("Citep", "*[[{"),
        ],
        environments=[
            EnvironmentSpec("lstlisting", args_parser=VerbatimArgsParser("verbatim-environment")),
            EnvironmentSpec("minted", args_parser=VerbatimArgsParser("verbatim-environment")),
        ],
    )
    return db


_DB = _context_db()


def latex_walker(text: str, tolerant: bool = True) -> LatexWalker:
    return LatexWalker(text, latex_context=_DB, tolerant_parsing=tolerant)


def _children(node: LatexNode) -> list[LatexNode]:
    kids: list[LatexNode] = []
    if isinstance(node, (LatexGroupNode, LatexEnvironmentNode, LatexMathNode)):
        kids += [n for n in node.nodelist or [] if n is not None]
    argd = getattr(node, "nodeargd", None)
    if argd is not None and getattr(argd, "argnlist", None):
        kids += [a for a in argd.argnlist if isinstance(a, LatexNode)]
    return kids


def walk(nodes: list[LatexNode]) -> Iterator[LatexNode]:
    """Every node of a node list, depth first, including macro and environment arguments."""
    stack = [n for n in reversed(nodes or []) if n is not None]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(_children(node)))


def _splice(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (start, end, replacement) edits; overlapping edits keep the outermost."""
    out, last = [], 0
    for start, end, repl in sorted(edits, key=lambda e: (e[0], -e[1])):
        if start < last:
            continue
        out += [text[last:start], repl]
        last = end
    out.append(text[last:])
    return "".join(out)


def arg_text(text: str, node: LatexMacroNode, index: int = -1) -> str | None:
    """Inner LaTeX of a macro's brace argument (the last one by default)."""
    args = [a for a in (node.nodeargd.argnlist if node.nodeargd else []) if a is not None]
    groups = [a for a in args if isinstance(a, LatexGroupNode) and a.delimiters[0] == "{"]
    if not groups:
        return None
    group = groups[index]
    return text[group.pos + 1 : group.pos + group.len - 1]


def _is_starred(node: LatexMacroNode) -> bool:
    args = node.nodeargd.argnlist if node.nodeargd else []
    return bool(args) and args[0] is not None and getattr(args[0], "chars", None) == "*"


def read_tex(path: Path, source: SourceRoot | None = None) -> str:
    """Read a source file as UTF-8, falling back to Latin-1 (old arXiv sources), through
    ``source`` (by default the file's own folder): ``UnsafeFile`` if it may not be read."""
    return (source or SourceRoot(path.parent)).read_text(path)


def strip_comments(text: str) -> str:
    """Remove ``%`` comments. A comment-only line disappears; a trailing comment is cut together
    with the spaces before it (a ``%`` glued to a word is kept, since it suppresses a space).

    A linear tokenizer, not a full parse (this runs on every file, before structure matters):
    escapes (``\\%``, ``\\\\``), ``\\verb`` and verbatim environments are skipped as units.
    """
    edits = []
    for tok in _COMMENT_SCAN.finditer(text):
        if tok.lastgroup != "comment":
            continue
        start, end = tok.span()
        line_start = text.rfind("\n", 0, start) + 1
        if not text[line_start:start].strip():
            edits.append((line_start, end + 1 if text[end : end + 1] == "\n" else end, ""))
        else:
            kept = len(text[:start].rstrip(" \t"))
            edits.append((kept, end, "%" if kept == start else ""))
    return _splice(text, edits)


def remove_skipped_blocks(text: str) -> tuple[str, list[str]]:
    """Cut ``comment`` environments and ``\\iffalse``/``\\if0 ... \\fi`` blocks (nesting aware)."""
    problems = []
    text = _COMMENT_ENV.sub("", text)
    while match := _FALSE_IF.search(text):
        depth, end = 0, None
        for tok in _CONDITIONAL.finditer(text, match.end()):
            if tok.group("tok") == "fi":
                if depth == 0:
                    end = tok.end()
                    break
                depth -= 1
            else:
                depth += 1
        if end is None:
            problems.append(
                f"unterminated {match.group(0)} at offset {match.start()}: kept the text"
            )
            text = text[: match.start()] + text[match.end() :]
        else:
            text = text[: match.start()] + text[end:]
    return text, problems


def find_main_file(folder: Path, source: SourceRoot | None = None) -> Path:
    """The file with ``\\documentclass`` and ``\\begin{document}`` (conventional names break ties).

    Only files ``source`` (default: ``folder``) lets us read are candidates; the error names the
    ones refused."""
    source = source or SourceRoot(folder)
    candidates, refused = [], []
    for path in source.files("*.tex"):
        try:
            head = strip_comments(read_tex(path, source))
        except UnsafeFile as err:
            refused.append(str(err))
            continue
        if "\\documentclass" in head:
            candidates.append(
                (("\\begin{document}" not in head), path.name not in MAIN_FILE_NAMES, path)
            )
    if not candidates:
        skipped = f" (refused: {'; '.join(refused)})" if refused else ""
        raise LatexError(f"no .tex file with \\documentclass in {folder}{skipped}")
    return min(candidates, key=lambda c: (c[0], c[1], len(c[2].parts), str(c[2])))[2]


def _resolve_input(name: str, base: Path, root: Path) -> Path | None:
    """The first existing candidate (it is checked when read: a FIFO or a link out is refused)."""
    name = name.strip()
    for cand in (base / name, base / f"{name}.tex", root / name, root / f"{name}.tex"):
        if (cand.exists() or cand.is_symlink()) and not cand.is_dir():
            return cand
    return None


def expand_file(
    path: Path, root: Path | SourceRoot | None = None, _stack: tuple[Path, ...] = ()
) -> tuple[str, list[str]]:
    """A source file cleaned and with every ``\\input``/``\\include`` inlined, plus problems.

    Inputs resolve relative to the main file's folder (as ``pdflatex`` run there would), with or
    without ``.tex``; a file may not include itself (directly or through others) and may not reach
    outside ``root``. Every file is read through ``SourceRoot`` (inside the root, a regular file,
    within the size limits): ``UnsafeFile`` for the file itself, a problem for an input.
    """
    source = root if isinstance(root, SourceRoot) else SourceRoot(root or path.parent)
    root = source.root
    path = source.check(path)
    text, problems = remove_skipped_blocks(strip_comments(read_tex(path, source)))
    edits = []
    for tok in _INPUT_SCAN.finditer(text):
        if tok.lastgroup != "input":
            continue
        macro, name, (start, end) = (
            tok.group("macro"),
            tok.group("arg") or tok.group("bare"),
            tok.span(),
        )
        target = _resolve_input(name, root, root)
        where = f"{path.relative_to(root) if path.is_relative_to(root) else path}"
        if target is None:
            problems.append(f"{where}: \\{macro}{{{name}}} not found")
            edits.append((start, end, ""))
            continue
        try:
            target = source.check(target)
        except UnsafeFile as err:
            problems.append(f"{where}: \\{macro}{{{name}}} not followed: {err}")
            edits.append((start, end, ""))
            continue
        if target in (*_stack, path) or len(_stack) >= MAX_INPUT_DEPTH:
            problems.append(f"{where}: cyclic or too deep \\{macro}{{{name}}} not followed")
            edits.append((start, end, ""))
            continue
        try:
            body, sub = expand_file(target, source, (*_stack, path))
        except UnsafeFile as err:
            problems.append(f"{where}: \\{macro}{{{name}}} not followed: {err}")
            body, sub = "", []
        problems += sub
        edits.append((start, end, body))
    return _splice(text, edits), problems


def drop_macros(latex: str, names: frozenset[str] | set[str], replacement: str = "") -> str:
    """Remove every use of the named macros, with their arguments."""
    nodes, _, _ = latex_walker(latex).get_latex_nodes()
    edits = [
        (n.pos, n.pos + n.len, replacement)
        for n in walk(nodes)
        if isinstance(n, LatexMacroNode) and n.macroname in names
    ]
    return _splice(latex, edits)


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


_ENV_TOKEN = re.compile(r"\\(begin|end)[ \t]*\{([^{}\n]*)\}|\\(section|part|appendix)(?![A-Za-z])")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def balance_environments(text: str) -> tuple[str, list[str]]:
    """``text`` with unbalanced environments closed or dropped so that no ``\\section`` ends up
    inside one, and the repairs made (naming each environment and its line).

    An unclosed ``\\begin{theorem}`` would otherwise swallow every later section (a tolerant
    parser nests them inside it). Rules, with a stack of open environments: a mismatching
    ``\\end{X}`` closes the environments opened after ``X`` when ``X`` is open, and is
    dropped when it is not; a top-level heading (``\\section``, ``\\part``, ``\\appendix``)
    closes every environment opened inside ``document``; so does the end of the text.
    """
    stack: list[tuple[str, int]] = []  # (name, position of its \begin)
    edits: list[tuple[int, int, str]] = []
    problems: list[str] = []

    def close_above(floor: int, at: int, reason: str) -> None:
        closing = []
        while len(stack) > floor:
            name, pos = stack.pop()
            closing.append(f"\\end{{{name}}}")
            problems.append(
                f"\\begin{{{name}}} (line {_line(text, pos)}) not closed {reason}; closed there"
            )
        if closing:
            edits.append((at, at, "".join(closing) + "\n"))

    def document_floor() -> int:
        names = [n for n, _ in stack]
        return names.index("document") + 1 if "document" in names else 0

    for m in _ENV_TOKEN.finditer(text):
        kind, name, heading = m.group(1), (m.group(2) or "").strip(), m.group(3)
        if heading:
            if len(stack) > document_floor():
                close_above(
                    document_floor(),
                    m.start(),
                    f"before \\{heading} (line {_line(text, m.start())})",
                )
        elif kind == "begin":
            stack.append((name, m.start()))
        elif stack and stack[-1][0] == name:
            stack.pop()
        elif any(n == name for n, _ in stack):
            depth = max(i for i, (n, _) in enumerate(stack) if n == name)
            close_above(
                depth + 1, m.start(), f"before \\end{{{name}}} (line {_line(text, m.start())})"
            )
            stack.pop()
        else:
            edits.append((m.start(), m.end(), ""))
            problems.append(
                f"\\end{{{name}}} (line {_line(text, m.start())}) without a \\begin{{{name}}}; dropped"
            )
    if len(stack) > document_floor():
        end = next((pos for n, pos in stack if n == "document"), None)
        at = text.rfind("\\end{document}") if end is not None else len(text)
        close_above(document_floor(), at if at >= 0 else len(text), "by the end of the document")
    return _splice(text, edits), problems


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
    return _splice(text[start:end], local)
