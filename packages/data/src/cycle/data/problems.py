"""Per-record problems: what a build rejected or repaired, with where and why.

Parsers return problems instead of raising, so one bad paper, bib entry or note never stops a
batch; builders stream them to ``rejected.jsonl``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal[
    "paper", "bib_entry", "reference", "forum", "review", "field", "latex", "outline", "duplicate"
]


@dataclass(frozen=True)
class Problem:
    """``kind`` names the record level; ``dropped`` says whether the record was left out."""

    kind: Kind
    source: str  # file or folder the record came from
    record: str  # paper id, bib key, note id, ...
    reason: str
    dropped: bool = True

    def to_row(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
