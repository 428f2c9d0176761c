"""Research-14K folders as ``build_data`` writes them, from a few one-line papers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cycle.data.records import Paper, Reference

SECTIONS = (
    ("Method", "We do \\textsc{it}."),
    ("Experiments", "It works."),
    ("Conclusion", "Done."),
)


def write_research14k(
    root: Path,
    n_train: int = 3,
    n_refs: int = 3,
    abstract: str = "We study {j}.",
    sections: Sequence[tuple[str, str]] = SECTIONS,
    experiment: tuple[str, str, str] = ("Main", "Run it.", "acc"),
) -> None:
    """``n_train`` train papers and one test paper under ``runs/build_data/tiny/research14k``.

    Paper ``i`` cites the first of its ``n_refs`` references in its introduction, which the
    ``sections`` follow; ``abstract`` (with ``{j}``, the reference number) is each reference's
    abstract; ``experiment`` is the outline's one experiment: (name, description, metric).
    """
    from datasets import Dataset

    from cycle.data.features import RESEARCH14K
    from cycle.data.paper_conversation import Outline
    from cycle.data.research14k import research14k_row
    from cycle.data.writer import save_splits

    name, description, metric = experiment
    rows = []
    for i in range(n_train + 1):
        refs = [
            Reference(
                key=f"k{i}{j}",
                title=f"Work {j}",
                abstract=abstract.format(j=j),
                bibtex=f"@misc{{k{i}{j},\n}}",
            )
            for j in range(n_refs)
        ]
        paper = Paper(
            f"p{i}",
            f"Paper {i}",
            "We propose a method.",
            [("Introduction", f"Intro~\\cite{{k{i}0}}."), *sections],
            refs,
            date=f"2024-01-0{i + 1}",
        )
        outline = Outline(
            "Gap.",
            "Idea.",
            6,
            6,
            6,
            [{"name": name, "description": description}],
            [{"name": name, "result": {"table": [[metric], ["1"]]}}],
        )
        rows.append(research14k_row(paper, outline))
    splits = {
        "train": Dataset.from_list(rows[:n_train], features=RESEARCH14K),
        "test": Dataset.from_list(rows[n_train:], features=RESEARCH14K),
    }
    save_splits(splits, root / "runs" / "build_data" / "tiny" / "research14k" / "papers", ["jsonl"])
