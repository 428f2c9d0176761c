"""Every ``docs/formats.md §N`` cited in the code, configs, tests and docs names a section that exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORMATS = ROOT / "docs" / "formats.md"
CITATION = re.compile(r"docs/formats\.md §(\d+)(?:\s*[–-]\s*§?(\d+))?")
SECTION = re.compile(r"^## §(\d+) ", re.MULTILINE)
SCANNED = ("packages", "conf", "tests", "scripts", "benchmarks", "docs")
SUFFIXES = {".py", ".yaml", ".md", ".sh", ".toml"}


def _citations() -> list[tuple[str, int]]:
    files = [ROOT / "README.md"]
    for top in SCANNED:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    found = []
    for path in files:
        for m in CITATION.finditer(path.read_text(encoding="utf-8", errors="replace")):
            first, last = int(m.group(1)), int(m.group(2) or m.group(1))
            found += [(str(path.relative_to(ROOT)), n) for n in range(first, last + 1)]
    return found


def test_every_cited_section_exists() -> None:
    sections = {int(n) for n in SECTION.findall(FORMATS.read_text(encoding="utf-8"))}
    assert sections == set(range(1, len(sections) + 1)), f"sections numbered 1..n: {sections}"
    citations = _citations()
    assert len({where for where, _ in citations}) > 10  # the parsers, builders and configs cite it
    missing = sorted({(where, n) for where, n in citations if n not in sections})
    assert not missing, f"citations of sections docs/formats.md does not have: {missing}"
