"""Reading an Accept / Reject verdict from a decision line, negation scope included.

A decision is read clause by clause: the text is cut at punctuation and at clause-joining words
("but", "so", "and", ...), and the first clause that names a verdict (a word starting with
``accept`` or ``reject``, or ``unacceptable``) decides. A verdict word is negated by

- a negator at most ``_SCOPE`` words before it in its clause ("I do *not* recommend acceptance",
  "*Not* ready for acceptance", "*cannot* be accepted", "*below* the acceptance threshold");
- a negated copula or modal right after it ("Acceptance *is not* recommended");
- its own prefix ("*un*acceptable").

One negation flips the verdict ("Not rejected" is Accept). Two negations of one word ("not
unacceptable"), or words of one clause that disagree ("accept or reject"), are ambiguous: the
decision is unreadable (None), never a guess. Text without a verdict ("Major revision") is
unreadable too.
"""

from __future__ import annotations

import re
from typing import Literal

Verdict = Literal["Accept", "Reject"]

# Clause boundaries: punctuation, dashes, and words that start a new clause.
_CLAUSE = re.compile(
    r"[.;:!?,()\[\]{}\n\u2013\u2014]"
    r"|\b(?:but|however|although|though|yet|whereas|while|so|because|since|therefore|thus|hence"
    r"|and|which)\b"
)
_WORD = re.compile(r"[a-z]+")
_NEGATORS = frozenset(
    {"not", "no", "never", "cannot", "nor", "neither", "hardly", "non", "below", "against"}
)
# Words that, followed by a negator, negate the verdict noun before them ("acceptance is not").
_COPULAS = frozenset(
    {"is", "was", "would", "should", "could", "can", "will", "may", "might", "must", "does"}
)
_SCOPE = 6  # words before a verdict word a negator reaches


def _verdict_of(word: str) -> tuple[Verdict, int] | None:
    """The verdict a word names and the negations it carries itself, if it names one."""
    if word.startswith("accept"):
        return "Accept", 0
    if word.startswith("unaccept"):
        return "Accept", 1
    if word.startswith("reject"):
        return "Reject", 0
    return None


def _clause_verdicts(words: list[str]) -> set[Verdict | None]:
    """What each verdict word of a clause says once negated (None: negated twice)."""
    found: set[Verdict | None] = set()
    for i, word in enumerate(words):
        named = _verdict_of(word)
        if named is None:
            continue
        verdict, negations = named
        negations += sum(w in _NEGATORS for w in words[max(0, i - _SCOPE) : i])
        after = words[i + 1 : i + 4]
        if after[:1] == ["cannot"] or (
            after[:1] and after[0] in _COPULAS and any(w in _NEGATORS for w in after[1:])
        ):
            negations += 1
        if negations > 1:
            found.add(None)
        elif negations == 1:
            found.add("Reject" if verdict == "Accept" else "Accept")
        else:
            found.add(verdict)
    return found


def read_decision(text: str) -> Verdict | None:
    """The verdict of a decision text, or None when it has none or is ambiguous (the rule is in
    the module docstring)."""
    text = text.lower().replace("\u2019", "'").replace("n't", " not").replace("-", " ")
    for clause in _CLAUSE.split(text):
        found = _clause_verdicts(_WORD.findall(clause))
        if found:
            return found.pop() if len(found) == 1 else None
    return None


def is_accept(decision: str) -> bool:
    """Whether a decision text reads as Accept (an unreadable one is not an acceptance)."""
    return read_decision(decision) == "Accept"
