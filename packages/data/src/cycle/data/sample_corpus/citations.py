"""Hands out ``\\cite`` commands so that every reference of a paper is cited."""

from __future__ import annotations

from collections.abc import Sequence

from cycle.data.sample_corpus.references import Ref


class CiteBook:
    """Hands out \\cite commands so that every reference is cited at least once."""

    def __init__(self, refs: list[Ref]):
        self.general = [r for r in refs if r.kind == "general"]
        self.target = {r.target: r.key for r in refs if r.kind != "general"}
        self.used: dict[str, None] = {}

    def cite(self, keys: Sequence[str]) -> str:
        if not keys:
            return ""
        for key in keys:
            self.used[key] = None
        return "~\\cite{" + ",".join(keys) + "}"

    def take(self, k: int) -> str:
        taken, self.general = self.general[:k], self.general[k:]
        return self.cite([r.key for r in taken])

    def of(self, target: str) -> str:
        key = self.target.get(target)
        return self.cite([key]) if key else ""
