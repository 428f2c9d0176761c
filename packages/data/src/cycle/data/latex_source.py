"""A LaTeX source folder -> one flattened document, cleaned file by file.

The steps, per file, in the order TeX itself would see them:

1. ``%`` comments are removed (so ``\\%``, ``\\verb|%|`` and verbatim environments survive);
2. ``comment`` environments and ``\\iffalse``/``\\if0 ... \\fi`` blocks are cut at the text level
   (TeX skips their content without reading braces, so they may hold unbalanced LaTeX);
3. ``\\input``/``\\include`` are inlined recursively (cycles and paths outside the folder are
   reported, not followed).
"""

from __future__ import annotations

import re
from pathlib import Path

from cycle.data.latex_parser import splice
from cycle.data.source_files import SourceRoot, UnsafeFile

MAIN_FILE_NAMES = ("main.tex", "paper.tex", "ms.tex")
MAX_INPUT_DEPTH = 20

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


class LatexError(ValueError):
    """A source folder that cannot become a paper (no main file, no readable text)."""


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
    return splice(text, edits)


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
    return splice(text, edits), problems
