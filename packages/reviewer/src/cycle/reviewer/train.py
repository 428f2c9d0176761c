"""CycleReviewer SFT data: the Review-5K reviewer view with each paper cut to fit the context.

The loss is on the review document only (``fit_sft`` masks everything but the assistant turn).
A paper longer than the context is cut by ``fit_paper`` (the inference cut), never the review:
a conversation whose review leaves fewer than ``min_paper_tokens`` tokens for the paper is
rejected with its reason rather than trained on a review of a paper the model cannot see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cycle.core.chat import Message
from cycle.reviewer.infer import fit_paper

REVIEW5K_KINDS = ("papers", "sft")


def load_review5k(
    review5k_dir: str | Path, kind: str, split: str, command: str = "cycle build_data"
) -> Any:
    """One split of ``build_data``'s Review-5K output (``papers`` rows or the ``sft`` view)."""
    from cycle.data.splits import load_saved_split

    if kind not in REVIEW5K_KINDS:
        raise ValueError(f"unknown Review-5K view '{kind}' ({', '.join(REVIEW5K_KINDS)})")
    return load_saved_split(Path(review5k_dir) / kind / "hf", split, command)


@dataclass
class ReviewerSFTData:
    conversations: list[list[Message]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
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
        out.truncated += dropped > 0
        out.paper_tokens_dropped += dropped
    return out
