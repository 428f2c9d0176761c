"""Deterministic writers: ``\\n`` line endings, UTF-8, one knobs.json line per paper."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json(path: Path, obj: Any, indent: int = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_knobs(path: Path, record: dict[str, Any]) -> None:
    """knobs.json with one line per paper, to keep the diff of a regeneration readable."""
    lines = ["{", '  "synthetic": true,', f'  "seed": {record["seed"]},']
    for i, section in enumerate(("arxiv", "openreview")):
        entries = [
            f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
            for k, v in record[section].items()
        ]
        lines += [f'  "{section}": {{', ",\n".join(entries), "  }" + ("," if i == 0 else "")]
    lines.append("}")
    write_text(path, "\n".join(lines) + "\n")
