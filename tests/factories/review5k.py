"""Review-5K records and folders as ``build_data`` writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cycle.data.records import Paper, Review, ReviewedPaper


def reviewed_paper(
    pid: str, ratings: Sequence[float], decision: str, words: int = 60
) -> ReviewedPaper:
    body = " ".join(
        f"We study problem {pid} with method {i % 7} on dataset {i % 5}." for i in range(words)
    )
    paper = Paper(
        pid, title=f"Paper {pid}", abstract=f"Abstract of {pid}.", sections=[("Introduction", body)]
    )
    reviews = [
        Review(
            summary=f"A summary of {pid}.",
            strengths="Clear.",
            weaknesses="Few baselines.",
            questions="Why?",
            soundness=3,
            presentation=3,
            contribution=2,
            rating=r,
            confidence=4,
            flag_for_ethics_review="No ethics review needed.",
        )
        for r in ratings
    ]
    return ReviewedPaper(paper, reviews, meta_review=f"Meta review of {pid}.", decision=decision)


def write_review5k(root: Path, splits: Mapping[str, Sequence[ReviewedPaper]]) -> Path:
    """A Review-5K folder as ``build_data`` writes it (papers + sft views), with chosen splits."""
    from datasets import Dataset, DatasetDict

    from cycle.data.features import REVIEW5K
    from cycle.data.review5k import review5k_row, sft_view

    papers = DatasetDict(
        {
            name: Dataset.from_list([review5k_row(rp) for rp in rps], features=REVIEW5K)
            for name, rps in splits.items()
        }
    )
    papers.save_to_disk(str(root / "papers" / "hf"))
    DatasetDict({name: sft_view(ds) for name, ds in papers.items()}).save_to_disk(
        str(root / "sft" / "hf")
    )
    return root
