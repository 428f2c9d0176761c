"""CycleReviewer SFT data: the Review-5K reviewer view with each paper cut to fit the context.

The loss is on the review document only (``fit_sft`` masks everything but the assistant turn).
A paper longer than the context is cut by ``fit_paper`` (the inference cut), never the review:
a conversation whose review leaves fewer than ``min_paper_tokens`` tokens for the paper is
rejected with its reason rather than trained on a review of a paper the model cannot see.

Two targets: ``document``, the SFT view ``build_data`` wrote (every review in full, lowest
rating first), and ``short`` (``short_review_messages``): every rated review with its rating
first and then the first words of its summary, in an order drawn per paper id, then
the meta review's first words and the decision. It is a valid CycleReviewer document that a
small model can learn on a CPU, and its first review's rating is a random reviewer's, so the
expected rating read right after its header (``cycle.reviewer.scoring``) estimates the mean.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cycle.core.chat import Message
from cycle.data.records import Review, ReviewedPaper
from cycle.data.review5k import reviewer_prompt
from cycle.data.review_text import ReviewSet, format_number, render_review_text
from cycle.reviewer.infer import fit_paper

REVIEW5K_KINDS = ("papers", "sft")
TARGETS = ("document", "short")
SHORT_FIELDS = ("rating", "summary")


def load_review5k(
    review5k_dir: str | Path, kind: str, split: str, command: str = "cycle build_data"
) -> Any:
    """One split of ``build_data``'s Review-5K output (``papers`` rows or the ``sft`` view)."""
    from cycle.data.splits import load_saved_split

    if kind not in REVIEW5K_KINDS:
        raise ValueError(f"unknown Review-5K view '{kind}' ({', '.join(REVIEW5K_KINDS)})")
    return load_saved_split(Path(review5k_dir) / kind / "hf", split, command)


def _first_words(text: str, words: int) -> str:
    return " ".join(text.split()[:words])


def short_review_messages(row: dict[str, Any], words: int = 30) -> list[Message]:
    """A Review-5K ``papers`` row as a reviewer conversation with the short target (see module
    docstring); ratings are written as plain numbers, whatever the venue's scale."""
    rp = ReviewedPaper.from_row(row)
    reviews = [r for r in rp.reviews if r.rating is not None]
    random.Random(str(rp.paper.paper_id)).shuffle(reviews)
    short = [
        Review(
            summary=_first_words(r.summary, words),
            rating=r.rating,
            raw={"rating": format_number(r.rating)},
        )
        for r in reviews
    ]
    meta = _first_words(rp.meta_review, words)
    target = render_review_text(
        ReviewSet(short, meta, rp.decision), fields=SHORT_FIELDS, by_rating=False
    )
    return [
        *reviewer_prompt(row["paper_text"], len(short), rp.rating_scale),
        {"role": "assistant", "content": target},
    ]


def reviewer_rows(
    review5k_dir: str | Path,
    split: str,
    target: str = "document",
    words: int = 30,
    command: str = "cycle build_data",
) -> Any:
    """One split as a dataset of ``id`` / ``messages`` / ``mean_rating`` rows for ``target``."""
    if target not in TARGETS:
        raise ValueError(f"unknown reviewer target '{target}' ({', '.join(TARGETS)})")
    if target == "document":
        return load_review5k(review5k_dir, "sft", split, command)
    papers = load_review5k(review5k_dir, "papers", split, command)
    return papers.map(
        lambda row: {"messages": short_review_messages(row, words)},
        remove_columns=[c for c in papers.column_names if c not in ("id", "mean_rating")],
        keep_in_memory=True,  # never a cache file inside build_data's run
    )


@dataclass
class ReviewerSFTData:
    conversations: list[list[Message]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    mean_ratings: list[float | None] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    truncated: int = 0  # conversations whose paper was cut
    paper_tokens_dropped: int = 0


def reviewer_sft_data(
    rows: Iterable[dict[str, Any]],
    tokenizer: Any,
    max_length: int,
    paper_truncation: str = "end",
    min_paper_tokens: int = 64,
) -> ReviewerSFTData:
    """SFT-view rows (``id``, ``messages``) -> conversations that fit ``max_length`` tokens."""
    out = ReviewerSFTData()
    for i, row in enumerate(rows):
        messages: Sequence[Message] = row.get("messages") or []
        roles = [m.get("role") for m in messages]
        if roles[-2:] != ["user", "assistant"] or roles.count("user") != 1:
            out.rejected.append(
                {
                    "index": i,
                    "id": row.get("id"),
                    "reason": f"not a reviewer conversation: roles {roles}",
                }
            )
            continue
        fitted = fit_paper(tokenizer, messages, max_length, paper_truncation, min_paper_tokens)
        if fitted is None:
            out.rejected.append(
                {
                    "index": i,
                    "id": row.get("id"),
                    "reason": f"review too long: fewer than {min_paper_tokens} paper tokens fit in {max_length}",
                }
            )
            continue
        chat, dropped = fitted
        out.conversations.append(chat)
        out.ids.append(str(row.get("id")))
        out.mean_ratings.append(row.get("mean_rating"))
        out.truncated += dropped > 0
        out.paper_tokens_dropped += dropped
    return out
