"""Writes the whole sample corpus: arXiv folders, OpenReview forums, knobs.json, README."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from cycle.data.sample_corpus.arxiv_folders import generate_arxiv
from cycle.data.sample_corpus.files import write_knobs, write_text
from cycle.data.sample_corpus.openreview_forums import generate_openreview
from cycle.data.sample_corpus.readme import readme

SEED = 2024
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "sample"


def generate(out: Path, seed: int = SEED) -> dict[str, Any]:
    """Rewrite the corpus under ``out`` and return the contents of ``knobs.json``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("arxiv", "openreview"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    taken: set[str] = set()
    arxiv = generate_arxiv(out, seed, taken)
    forums = generate_openreview(out, seed, taken)
    record = {"synthetic": True, "seed": seed, "arxiv": arxiv, "openreview": forums}
    write_knobs(out / "knobs.json", record)
    write_text(out / "README.md", readme(seed, arxiv, forums))
    return record
