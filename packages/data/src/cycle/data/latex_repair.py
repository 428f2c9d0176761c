"""Repairs of unbalanced LaTeX environments, so that a tolerant parse still finds every section."""

from __future__ import annotations

import re

from cycle.data.latex_parser import splice

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
    return splice(text, edits), problems
