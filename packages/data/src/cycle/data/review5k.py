"""Review-5K: one row per reviewed paper, and the reviewer SFT view.

The SFT view is system prompt + paper text -> the review document of docs/formats.md §1
(``render_review_text``: reviews from lowest to highest rating, then meta review and
decision). The train/test split is seeded; see ``splits`` for how sizes scale.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset
from tqdm.auto import tqdm

from cycle.data.dedupe import Deduper
from cycle.data.features import REVIEW5K, REVIEW5K_SFT
from cycle.data.problems import Problem
from cycle.data.records import DEFAULT_RATING_SCALE, ReviewedPaper
from cycle.data.review_text import ReviewSet, format_number, render_review_text
from cycle.data.splits import random_split, stratified_split
from cycle.data.writer import (
    BATCH_ROWS,
    EXPORTS,
    RejectLog,
    RowSpool,
    TokenCounter,
    length_stats,
    save_splits,
)

# The CycleReviewer instruction (zhu-minjun/Researcher, CycleReviewer.evaluate); {n} = reviews.
REVIEWER_SYSTEM_PROMPT = """You are an expert academic reviewer tasked with providing a thorough and balanced evaluation of research papers. For each paper submitted, conduct a comprehensive review addressing the following aspects:

1. Summary: Briefly outline main points and objectives.
2. Soundness: Assess methodology and logical consistency.
3. Presentation: Evaluate clarity, organization, and visual aids.
4. Contribution: Analyze significance and novelty in the field.
5. Strengths: Identify the paper's strongest aspects.
6. Weaknesses: Point out areas for improvement.
7. Questions: Pose questions for the authors.
8. Rating: Score {low}-{high}, justify your rating.
9. Meta Review: Provide overall assessment and recommendation (Accept/Reject).

Maintain objectivity and provide specific examples from the paper to support your evaluation.

You need to fill out **{n}** review opinions."""


def review5k_row(rp: ReviewedPaper) -> dict[str, Any]:
    ratings = rp.ratings
    return {
        "id": rp.paper.paper_id,
        "title": rp.paper.title,
        "paper_text": rp.paper.text,
        **rp.to_row(),
        "accepted": rp.accepted,
        "ratings": ratings,
        "mean_rating": sum(ratings) / len(ratings) if ratings else None,
    }


def reviewer_prompt(
    paper_text: str, n_reviews: int, rating_scale: Sequence[float] = DEFAULT_RATING_SCALE
) -> list[dict[str, str]]:
    """system + user (paper text): the reviewer's prompt, shared by the SFT view and inference.
    The rating line names the venue's scale (1-10 unless the data says otherwise)."""
    low, high = (format_number(v) for v in rating_scale)
    system = REVIEWER_SYSTEM_PROMPT.format(n=n_reviews, low=low, high=high)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": paper_text},
    ]


def reviewer_messages(row: dict[str, Any], variant: str = "A") -> list[dict[str, str]]:
    """``reviewer_prompt`` + assistant (review document) for one Review-5K row."""
    rp = ReviewedPaper.from_row(row)
    target = render_review_text(ReviewSet(rp.reviews, rp.meta_review, rp.decision), variant=variant)
    return [
        *reviewer_prompt(row["paper_text"], len(rp.reviews), rp.rating_scale),
        {"role": "assistant", "content": target},
    ]


def sft_view(ds: Dataset, variant: str = "A") -> Dataset:
    return ds.map(
        lambda row: {"messages": reviewer_messages(row, variant)},
        remove_columns=[c for c in ds.column_names if c not in REVIEW5K_SFT],
        features=REVIEW5K_SFT,
        writer_batch_size=BATCH_ROWS,
    )


def build_review5k(
    forums: Iterable[tuple[ReviewedPaper | None, list[Problem]]],
    out_dir: str | Path,
    rejects: RejectLog,
    train: int = 4189,
    test: int = 782,
    seed: int = 0,
    variant: str = "A",
    export: Sequence[str] = EXPORTS,
    count_tokens: TokenCounter | None = None,
    stratify: str | None = None,
    progress: bool = False,
    total: int | None = None,
) -> dict[str, Any]:
    """Stream forums into ``out_dir/{papers,sft}``; returns the summary (counts, lengths, text
    sources, venues with their rating scales). ``stratify`` names the column the split keeps
    in proportion (``splits.stratified_split``); ``progress`` shows a bar of parsed records
    (of ``total``, when known)."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        dir=out_dir.parent, prefix=".review5k.", suffix=".tmp"
    ) as work:
        spool = RowSpool(Path(work) / "rows.jsonl", REVIEW5K)
        seen = Deduper()
        n_reviews = 0
        text_sources: Counter[str] = Counter()
        venues: dict[str, list[float]] = {}
        for rp, problems in tqdm(
            forums, desc="review5k", unit="paper", total=total, disable=not progress
        ):
            rejects.add("review5k", problems)
            if rp is None:
                continue
            record, src = rp.paper.paper_id, rp.paper.source
            if reason := seen.duplicate_of(record, rp.paper.title):
                rejects.add("review5k", [Problem("duplicate", src, record, reason)])
                continue
            try:
                spool.add(review5k_row(rp))
            except Exception as err:  # one record that cannot be stored must not stop the build
                rejects.add("review5k", [Problem("forum", src, record, f"not stored: {err}")])
                continue
            seen.add(record, rp.paper.title)
            n_reviews += len(rp.reviews)
            text_sources[rp.paper.text_source or "unknown"] += 1
            venues.setdefault(rp.paper.venue, [float(v) for v in rp.rating_scale])
        ds = spool.to_dataset(Path(work) / "cache")
        if stratify and len(ds):
            splits = stratified_split(ds, train, test, seed, stratify)
        else:
            splits = random_split(ds, train, test, seed)
        save_splits(splits, out_dir / "papers", export)
        sft = {name: sft_view(split, variant) for name, split in splits.items()}
        save_splits(sft, out_dir / "sft", export)
        summary: dict[str, Any] = {
            "papers": len(ds),
            "reviews": n_reviews,
            "train": len(splits["train"]),
            "test": len(splits["test"]),
            "unused": len(ds) - len(splits["train"]) - len(splits["test"]),
            "accepted": sum(ds["accepted"]) if len(ds) else 0,
            "duplicates": seen.merged,
            "text_sources": dict(sorted(text_sources.items())),
            "rating_scales": venues,
        }
        if count_tokens is not None:
            summary["paper_tokens"] = length_stats(
                [count_tokens(t) for b in ds.iter(batch_size=64) for t in b["paper_text"]]
            )
            summary["target_tokens"] = length_stats(
                [
                    count_tokens(m[-1]["content"])
                    for split in sft.values()
                    for b in split.iter(batch_size=64)
                    for m in b["messages"]
                ]
            )
        del ds, splits, sft  # release the Arrow cache files before the work dir goes
    return summary
