"""Checking a batch of exported papers for the AI-generation disclosure (defined in core)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cycle.core.disclosure import has_disclosure, has_simulated_disclosure

__all__ = ["DisclosureReport", "check_disclosure"]


@dataclass
class DisclosureReport:
    n_checked: int
    missing: list[str] = field(default_factory=list)  # no disclosure at all
    missing_simulated: list[str] = field(default_factory=list)  # simulated results not declared

    @property
    def ok(self) -> bool:
        return not self.missing and not self.missing_simulated

    def to_dict(self) -> dict:
        return {**self.__dict__, "ok": self.ok}


def check_disclosure(
    papers: Mapping[str, str] | Iterable[tuple[str, str]],
    require_simulated: Mapping[str, bool] | None = None,
) -> DisclosureReport:
    """Which papers (id -> text) lack the statement, and which simulated ones do not say so."""
    items = list(papers.items()) if isinstance(papers, Mapping) else list(papers)
    simulated = require_simulated or {}
    report = DisclosureReport(n_checked=len(items))
    for paper_id, text in items:
        if not has_disclosure(text):
            report.missing.append(paper_id)
        elif simulated.get(paper_id) and not has_simulated_disclosure(text):
            report.missing_simulated.append(paper_id)
    return report
