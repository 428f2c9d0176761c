"""Researcher SFT data: assistant-only labels, random truncation alignment, packing equivalence."""

from __future__ import annotations

import random

import pytest

from cycle.core.chat import tokenize_chat
from cycle.core.training.sequences import (
    IGNORE_INDEX,
    labels_from_mask,
    pack_rows,
    pad_batch,
    truncate,
)
from cycle.data.paper_conversation import Outline, paper_messages
from cycle.data.records import Paper, Reference
from cycle.researcher.data import sft_conversations


def _row(i: int) -> dict:
    refs = [
        Reference(key=f"r{j}", title=f"Ref {j}", abstract=f"abs {j}", bibtex=f"@misc{{r{j},\n}}")
        for j in range(5)
    ]
    paper = Paper(
        f"p{i}",
        f"Title {i}",
        "Abstract.",
        [("Introduction", "intro " * 20), ("Experiments", "exp " * 20)],
        refs,
    )
    outline = Outline(
        "motivation", "idea", experimental_results=[{"name": "t", "result": {"table": [["a"]]}}]
    )
    return {
        "paperId": f"p{i}",
        "references": [r.to_row() | {"paperId": ""} for r in refs],
        "messages": paper_messages(paper, outline),
    }


def test_conversations_and_reference_limit() -> None:
    rows = [_row(0), {"paperId": "bad", "messages": [{"role": "user", "content": "x"}]}]
    convs, rejected = sft_conversations(rows, max_references=2)
    assert len(convs) == 1 and rejected[0]["paperId"] == "bad"
    assert "@misc{r1," in convs[0][1]["content"] and "r2" not in convs[0][1]["content"]
    assert convs[0][2:] == rows[0]["messages"][2:]  # assistant and results turns untouched


def test_loss_only_on_both_assistant_turns(tiny_lm) -> None:
    _, tokenizer = tiny_lm
    conv = sft_conversations([_row(0)])[0][0]
    ids, mask = tokenize_chat(tokenizer, conv)
    labelled = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert "## Motivation" in labelled and "\\section{Experiments}" in labelled
    assert "Experimental_results" not in labelled and "Abstract: abs 0" not in labelled


@pytest.mark.parametrize("seed", range(5))
def test_random_truncation_keeps_labels_aligned(tiny_lm, seed: int) -> None:
    _, tokenizer = tiny_lm
    ids, mask = tokenize_chat(tokenizer, sft_conversations([_row(0)])[0][0])
    labels = labels_from_mask(ids, mask)
    cut_ids, cut_labels = truncate(ids, labels, 64, "random", random.Random(seed))
    assert len(cut_ids) == len(cut_labels) == 64
    # The window is a contiguous slice of the original: every label is its own token or ignored.
    start = next(
        i
        for i in range(len(ids) - 63)
        if ids[i : i + 64] == cut_ids and labels[i : i + 64] == cut_labels
    )
    assert all(lab in (tok, IGNORE_INDEX) for tok, lab in zip(cut_ids, cut_labels, strict=True))
    assert cut_labels == labels[start : start + 64]


def test_packing_gives_the_unpacked_loss(tiny_lm) -> None:
    import torch

    model, tokenizer = tiny_lm
    gen = torch.Generator().manual_seed(0)
    rows = []
    for n in (9, 13, 6, 11):
        ids = torch.randint(5, len(tokenizer), (n,), generator=gen).tolist()
        rows.append({"input_ids": ids, "labels": [IGNORE_INDEX] * 3 + ids[3:]})
    packs = pack_rows(rows, max_length=24)
    assert [len(p["input_ids"]) for p in packs] == [22, 17]
    assert packs[0]["position_ids"] == list(range(9)) + list(range(13))
    assert (
        packs[0]["labels"][9] == IGNORE_INDEX
    )  # no token of the first example predicts the second
    with torch.no_grad():
        unpacked = model(**pad_batch(rows, tokenizer.pad_token_id)).loss
        batch = pad_batch(packs, tokenizer.pad_token_id)
        assert "attention_mask" not in batch
        packed = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            labels=batch["labels"],
            use_cache=False,
        ).loss
    assert packed.item() == pytest.approx(unpacked.item(), rel=1e-5)
