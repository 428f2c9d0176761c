"""Template filling and small English helpers shared by every generator module."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

_SLOT = re.compile(r"<([A-Za-z_][A-Za-z_0-9]*)>")
NUM_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
SMALL_WORDS = {
    "a",
    "an",
    "and",
    "as",
    "at",
    "by",
    "for",
    "in",
    "of",
    "on",
    "or",
    "the",
    "to",
    "via",
    "with",
}


def fill(template: str, ctx: dict[str, Any]) -> str:
    """Replace ``<key>`` slots (braces are left alone, so LaTeX needs no escaping)."""
    return _SLOT.sub(lambda m: str(ctx[m.group(1)]), template)


def pick(rng: random.Random, options: Sequence[str], ctx: dict[str, Any] | None = None) -> str:
    text = rng.choice(options)
    return fill(text, ctx) if ctx is not None else text


def join_and(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    if len(items) == 2:
        return f"{items[0]} and {items[1]}"
    return ", ".join(items[:-1]) + f", and {items[-1]}"


def title_case(text: str) -> str:
    words = text.split(" ")
    out = []
    for i, w in enumerate(words):
        if i > 0 and w in SMALL_WORDS:
            out.append(w)
        elif w[:1].islower() and not any(c.isupper() for c in w[1:]):
            out.append(w[:1].upper() + w[1:])
        else:
            out.append(w)
    return " ".join(out)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def plural(n: int, word: str) -> str:
    return f"{NUM_WORDS[n] if n < len(NUM_WORDS) else n} {word}{'' if n == 1 else 's'}"
