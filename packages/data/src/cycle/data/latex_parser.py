"""pylatexenc plumbing shared by the LaTeX readers: the parsing context (with a fast specials
lookup), node walking, macro arguments, and text edits by offset."""

from __future__ import annotations

from collections.abc import Iterator

from pylatexenc.latexwalker import (
    LatexEnvironmentNode,
    LatexGroupNode,
    LatexMacroNode,
    LatexMathNode,
    LatexNode,
    LatexWalker,
    get_default_latex_context_db,
)
from pylatexenc.macrospec import EnvironmentSpec, LatexContextDb, MacroSpec, VerbatimArgsParser


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


def splice(text: str, edits: list[tuple[int, int, str]]) -> str:
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


def drop_macros(latex: str, names: frozenset[str] | set[str], replacement: str = "") -> str:
    """Remove every use of the named macros, with their arguments."""
    nodes, _, _ = latex_walker(latex).get_latex_nodes()
    edits = [
        (n.pos, n.pos + n.len, replacement)
        for n in walk(nodes)
        if isinstance(n, LatexMacroNode) and n.macroname in names
    ]
    return splice(latex, edits)
