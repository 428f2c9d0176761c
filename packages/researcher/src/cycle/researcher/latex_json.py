"""JSON written by a model that also writes LaTeX: decode without corrupting backslashes.

A model often writes ``"\\textsc{X}"`` with a single backslash. Strict JSON then either fails
(``\\c``, ``\\a``, ``\\u`` + non-hex are invalid escapes) or silently decodes a control character
(``\\t`` in ``\\textsc`` becomes a tab, ``\\b`` in ``\\beta`` a backspace, ``\\f`` in ``\\frac`` a
form feed, ``\\r`` in ``\\right`` a carriage return, ``\\n`` in ``\\nabla`` a newline). Before
decoding, each escape that reads as a LaTeX command is doubled:

- any escape that is not valid JSON;
- ``\\t``, ``\\b``, ``\\f``, ``\\r`` directly followed by a letter (a control character glued to a
  word is far less likely than a LaTeX command);
- ``\\n`` only when ``\\n<letters>`` is a known LaTeX command (``\\nabla``, ``\\noindent``, ...), since
  a real newline before a word is common.

Correct JSON (``json.dumps`` output, where LaTeX has ``\\\\``) decodes unchanged, except for the
documented ambiguities above.
"""

from __future__ import annotations

import json
import re
from typing import Any

_N_COMMANDS = frozenset(
    [
        "nabla",
        "neq",
        "newline",
        "noindent",
        "nu",
        "not",
        "notin",
        "newcommand",
        "newpage",
        "nonumber",
        "nolimits",
        "normalsize",
        "neg",
        "nexists",
        "nleq",
        "ngeq",
        "nsubseteq",
        "nearrow",
        "nwarrow",
        "natural",
        "nocite",
        "nicefrac",
        "numberwithin",
        "nobreak",
        "nolinebreak",
        "nopagebreak",
    ]
)
# One escape: backslash + the escaped character, plus the letters that follow it.
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)([A-Za-z]*)", re.DOTALL)


def _repair_escape(match: re.Match[str]) -> str:
    char, letters = match.group(1), match.group(2)
    whole = match.group(0)
    if char in '"\\/' or len(char) == 5:  # \", \\, \/ and \uXXXX are JSON
        return whole
    if char in "tbfr":
        return "\\" + whole if letters else whole
    if char == "n":
        return "\\" + whole if ("n" + letters) in _N_COMMANDS else whole
    return "\\" + whole  # invalid JSON escape: a LaTeX command (\alpha, \cite, \%, ...)


def repair_latex_escapes(text: str) -> str:
    """``text`` with every single backslash that starts a LaTeX command doubled (see module doc).

    Escaped backslashes (``\\\\``) are consumed as pairs, so correct JSON is left alone.
    """
    return _ESCAPE.sub(_repair_escape, text)


def loads_latex_json(text: str) -> tuple[Any, str | None]:
    """Decode ``text`` as JSON after repairing LaTeX backslashes: ``(value, None)`` or
    ``(None, reason)``."""
    repaired = repair_latex_escapes(text)
    try:
        return json.loads(repaired), None
    except json.JSONDecodeError as err:
        return None, f"invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
