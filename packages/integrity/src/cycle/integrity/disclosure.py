"""Checking a batch of exported papers for the AI-generation disclosure (defined in core)."""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cycle.core.disclosure import has_disclosure, has_simulated_disclosure

__all__ = [
    "DisclosureReport",
    "check_disclosure",
    "check_disclosure_files",
    "disclosure_markdown",
]


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


def check_disclosure_files(
    patterns: Sequence[str], simulated_by_stem: Mapping[str, bool] | None = None
) -> tuple[DisclosureReport, list[dict[str, Any]]]:
    """Check the documents that ``patterns`` (paths or globs) name; a document must also declare
    simulated results when ``simulated_by_stem`` says so for its file stem (the paper id the
    researcher's export names it by). Returns the report (ids are file paths) and rejects:
    patterns matching nothing and files that cannot be read."""
    texts: dict[str, str] = {}
    rejects: list[dict[str, Any]] = []
    for pattern in patterns:
        paths = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        if not paths:
            rejects.append({"source": pattern, "id": pattern, "reason": "no file matches"})
        for path in paths:
            try:
                texts[path] = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                rejects.append({"source": path, "id": path, "reason": f"unreadable: {err}"})
    simulated = simulated_by_stem or {}
    required = {path: simulated.get(Path(path).stem, False) for path in texts}
    return check_disclosure(texts, required), rejects


def disclosure_markdown(report: DisclosureReport) -> str:
    """The detect report's disclosure section: how many papers pass, and which do not."""
    lines = [
        "",
        "## AI-generation disclosure",
        "",
        f"{report.n_checked} exported papers checked: "
        f"{report.n_checked - len(report.missing) - len(report.missing_simulated)} carry the statement "
        "(and, where the results were simulated, say so).",
    ]
    for title, ids in (
        ("No disclosure statement", report.missing),
        ("Simulated results not declared", report.missing_simulated),
    ):
        if ids:
            lines += ["", f"{title}:", "", *(f"- `{i}`" for i in ids)]
    return "\n".join(lines) + "\n"
