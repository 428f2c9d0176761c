"""Token sequences for SFT: labels from an assistant mask, truncation, packing, padding."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

IGNORE_INDEX = -100


def labels_from_mask(input_ids: Sequence[int], mask: Sequence[int]) -> list[int]:
    return [t if m else IGNORE_INDEX for t, m in zip(input_ids, mask, strict=True)]


def truncate(
    input_ids: Sequence[int],
    labels: Sequence[int],
    max_length: int,
    mode: str = "end",
    rng: random.Random | None = None,
) -> tuple[list[int], list[int]]:
    """Cut a sequence to ``max_length`` tokens keeping ids and labels aligned.

    ``end`` drops tokens from the end, ``start`` from the start, ``random`` keeps a random window
    (the paper randomly truncates over-long Research-14K samples), ``middle`` drops the middle of the
    unlabelled prefix (keeps a paper's beginning and the whole target when it fits).
    """
    n = len(input_ids)
    if n <= max_length:
        return list(input_ids), list(labels)
    if mode == "end":
        lo, hi = 0, max_length
    elif mode == "start":
        lo, hi = n - max_length, n
    elif mode == "random":
        lo = (rng or random).randint(0, n - max_length)
        hi = lo + max_length
    elif mode == "middle":
        first_label = next((i for i, x in enumerate(labels) if x != IGNORE_INDEX), n)
        target = n - first_label
        if target >= max_length:
            return list(input_ids[:max_length]), list(labels[:max_length])
        keep_prefix = max_length - target
        head = keep_prefix // 2
        tail = keep_prefix - head
        ids = (
            list(input_ids[:head])
            + list(input_ids[first_label - tail : first_label])
            + list(input_ids[first_label:])
        )
        lab = (
            list(labels[:head])
            + list(labels[first_label - tail : first_label])
            + list(labels[first_label:])
        )
        return ids, lab
    else:
        raise ValueError(f"unknown truncation mode '{mode}' (end, start, random, middle)")
    return list(input_ids[lo:hi]), list(labels[lo:hi])


def pack_rows(
    rows: Sequence[dict[str, Sequence[int]]], max_length: int
) -> list[dict[str, list[int]]]:
    """Concatenate consecutive rows into packs of at most ``max_length`` tokens (greedy, in order).

    Each pack carries ``position_ids`` restarting at 0 for every example; with no attention mask,
    transformers turns those restarts into a block-diagonal causal mask, so examples never attend to
    each other (and FlashAttention uses them as varlen boundaries). The first label of every example
    is ignored: unpacked, no token predicts it; packed, the previous example's last token would.
    A row longer than ``max_length`` forms a pack of its own (truncate first).
    """
    packs: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {"input_ids": [], "labels": [], "position_ids": []}
    for row in rows:
        n = len(row["input_ids"])
        if current["input_ids"] and len(current["input_ids"]) + n > max_length:
            packs.append(current)
            current = {"input_ids": [], "labels": [], "position_ids": []}
        current["input_ids"] += list(row["input_ids"])
        current["labels"] += [IGNORE_INDEX, *list(row["labels"])[1:]]
        current["position_ids"] += list(range(n))
    if current["input_ids"]:
        packs.append(current)
    return packs


def pad_batch(rows: Sequence[dict[str, Sequence[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad ``input_ids``/``labels`` rows into tensors with an attention mask.

    Packed rows (with ``position_ids``) get ``position_ids`` instead of an attention mask: the
    padding continues as one more sequence (positions from 0) that no real token attends to.
    """
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    packed = "position_ids" in rows[0]
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    extra = torch.zeros((len(rows), width), dtype=torch.long)  # position ids or attention mask
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n] = torch.as_tensor(r["input_ids"])
        labels[i, :n] = torch.as_tensor(r["labels"])
        if packed:
            extra[i, :n] = torch.as_tensor(r["position_ids"])
            extra[i, n:] = torch.arange(width - n)
        else:
            extra[i, :n] = 1
    return {
        "input_ids": ids,
        "labels": labels,
        ("position_ids" if packed else "attention_mask"): extra,
    }
