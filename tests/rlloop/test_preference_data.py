"""Pair dataset, completion masks through the chat template, truncation, batch layout."""

from __future__ import annotations

import pytest
import torch

from cycle.rlloop.loss import SimPOConfig, simpo_nll_batch_loss
from cycle.rlloop.pairs import PreferencePair
from cycle.rlloop.preference_data import (
    PreferenceCollator,
    UntrainablePairError,
    encode_completion,
    filter_trainable,
    pairs_to_dataset,
)

CHAT = [
    {"role": "system", "content": "You write papers."},
    {"role": "user", "content": "Write one."},
]
PAIRS = [
    PreferencePair("p1", "A short good paper.", "Bad.", 7.0, 3.0),
    PreferencePair("p2", "Another paper with more words in it.", "Meh paper.", 6.5, 5.0),
]


@pytest.fixture(scope="module")
def tokenizer(tiny_lm):
    return tiny_lm[1]


def completion_text(tokenizer, ids, mask) -> str:
    return tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if m])


def test_dataset_rows():
    ds = pairs_to_dataset(PAIRS, {"p1": CHAT, "p2": CHAT})
    assert ds.column_names == [
        "prompt_id",
        "prompt",
        "chosen",
        "rejected",
        "chosen_reward",
        "rejected_reward",
    ]
    assert ds[1]["prompt"] == CHAT
    assert (ds[1]["chosen"], ds[1]["rejected_reward"]) == (PAIRS[1].chosen, 5.0)


def test_dataset_input_errors():
    with pytest.raises(ValueError, match="no prompt for prompt ids \\['p2'\\]"):
        pairs_to_dataset(PAIRS, {"p1": CHAT})
    with pytest.raises(ValueError, match="mix"):
        pairs_to_dataset(PAIRS, {"p1": CHAT, "p2": "plain text prompt"})


def test_chat_completion_mask_covers_only_the_final_assistant_turn(tokenizer):
    multi_turn = [
        *CHAT,
        {"role": "assistant", "content": "First half."},
        {"role": "user", "content": "Results."},
    ]
    ids, mask = encode_completion(tokenizer, multi_turn, "Second half.", max_length=10_000)
    assert completion_text(tokenizer, ids, mask) == "Second half.<|im_end|>"
    assert tokenizer.decode(ids).count("First half.") == 1  # earlier turns stay in the prompt


def test_string_prompt_gets_completion_and_eos(tokenizer):
    ids, mask = encode_completion(tokenizer, "Title: ", "A paper", max_length=10_000)
    assert completion_text(tokenizer, ids, mask) == "A paper<|im_end|>"
    assert tokenizer.decode([i for i, m in zip(ids, mask, strict=True) if not m]) == "Title: "


def test_truncation_keeps_prompt_and_completion_start(tokenizer):
    full_ids, full_mask = encode_completion(tokenizer, CHAT, "word " * 50, max_length=10_000)
    prompt_len = full_mask.index(1)
    ids, mask = encode_completion(tokenizer, CHAT, "word " * 50, max_length=prompt_len + 3)
    assert ids == full_ids[: prompt_len + 3]
    assert sum(mask) == 3
    ids, mask = encode_completion(tokenizer, CHAT, "word " * 50, max_length=prompt_len + 1)
    assert sum(mask) == 1  # never empty
    with pytest.raises(UntrainablePairError) as err:
        encode_completion(tokenizer, CHAT, "word", max_length=prompt_len)
    assert err.value.reason == "prompt_too_long"


def test_empty_prompt_is_untrainable(tokenizer):
    with pytest.raises(UntrainablePairError) as err:
        encode_completion(tokenizer, "", "text", max_length=100)
    assert err.value.reason == "empty_prompt"


def test_collator_layout(tokenizer):
    ds = pairs_to_dataset(PAIRS, {"p1": CHAT, "p2": CHAT})
    batch = PreferenceCollator(tokenizer, max_length=4096)([ds[0], ds[1]])
    assert set(batch) == {"input_ids", "attention_mask", "completion_mask"}
    assert batch["input_ids"].shape[0] == 4
    texts = [
        completion_text(tokenizer, ids.tolist(), mask.tolist())
        for ids, mask in zip(batch["input_ids"], batch["completion_mask"], strict=True)
    ]
    assert texts == [p.chosen + "<|im_end|>" for p in PAIRS] + [
        p.rejected + "<|im_end|>" for p in PAIRS
    ]
    lengths = batch["attention_mask"].sum(1)
    assert lengths.max() == batch["input_ids"].shape[1]
    for row, n in enumerate(lengths.tolist()):  # right padding with the pad id
        assert batch["attention_mask"][row, :n].all() and not batch["attention_mask"][row, n:].any()
        assert (batch["input_ids"][row, n:] == tokenizer.pad_token_id).all()
        assert not batch["completion_mask"][row, n:].any()


def test_filter_and_collator_refuse_prompts_that_fill_max_length(tokenizer):
    long_prompt = [{"role": "user", "content": "background " * 200}]
    ds = pairs_to_dataset(PAIRS, {"p1": CHAT, "p2": long_prompt})
    max_length = encode_completion(tokenizer, CHAT, PAIRS[0].chosen, 10_000)[1].index(1) + 8
    kept, dropped = filter_trainable(ds, tokenizer, max_length)
    assert kept["prompt_id"] == ["p1"]
    assert dropped == {"p2": "prompt_too_long"}
    with pytest.raises(UntrainablePairError, match="'p2' \\(chosen\\).*prompt_too_long"):
        PreferenceCollator(tokenizer, max_length)([ds[0], ds[1]])


def test_collated_batch_trains_end_to_end(tiny_lm):
    model, tokenizer = tiny_lm
    ds = pairs_to_dataset(PAIRS, {"p1": CHAT, "p2": CHAT})
    batch = PreferenceCollator(tokenizer, max_length=4096)([ds[0], ds[1]])
    cfg = SimPOConfig(chunk_size=4)
    loss, metrics = simpo_nll_batch_loss(model, batch, cfg)
    # Same number through the full logits (float32, so a looser tolerance than in test_loss).
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    logps = logits[:, :-1].log_softmax(-1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
    mask = batch["completion_mask"][:, 1:].float()
    avg = (logps * mask).sum(1) / mask.sum(1)
    simpo = -torch.nn.functional.logsigmoid(cfg.beta * (avg[:2] - avg[2:]) - cfg.gamma).mean()
    nll = -(logps * mask)[:2].sum() / mask[:2].sum()
    assert loss.item() == pytest.approx((simpo + cfg.lam * nll).item(), abs=1e-4)
    assert torch.isfinite(loss) and metrics["nll"] > 0
