"""Research-14K rows (``build_data`` output or the released dataset) as SFT conversations and
generation prompts."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cycle.data.released import research14k_references
from cycle.researcher.protocol import Message, build_prompt


def load_research14k(research14k_dir: str | Path, split: str, command: str) -> Any:
    """One split of ``build_data``'s Research-14K (``<dir>/papers/hf``)."""
    from cycle.data.splits import load_saved_split

    return load_saved_split(Path(research14k_dir) / "papers" / "hf", split, command)


def sft_conversations(
    rows: Iterable[dict[str, Any]], max_references: int | None = None
) -> tuple[list[list[Message]], list[dict[str, Any]]]:
    """The five messages of each row; rows without them are rejected with a reason.

    ``max_references`` re-renders the user turn with the first references only (the same prompt
    ``cycle generate`` builds with that setting), for small contexts.
    """
    conversations, rejected = [], []
    for i, row in enumerate(rows):
        messages = row.get("messages") or []
        roles = [m.get("role") for m in messages]
        if roles != ["system", "user", "assistant", "user", "assistant"]:
            rejected.append(
                {
                    "index": i,
                    "paperId": row.get("paperId"),
                    "reason": f"not a five-message conversation: {roles}",
                }
            )
            continue
        messages = [{"role": m["role"], "content": m["content"]} for m in messages]
        if max_references is not None:
            messages[:2] = build_prompt(research14k_references(row), None, max_references)
        conversations.append(messages)
    return conversations, rejected
