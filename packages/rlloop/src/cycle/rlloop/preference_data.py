"""Preference pairs as a ``datasets.Dataset``, and the collator that lays a batch out for SimPO.

A row holds ``prompt_id``, ``prompt`` (chat messages, or a plain string), ``chosen``,
``rejected``, ``chosen_reward`` and ``rejected_reward``. The collator tokenizes prompt +
completion through :mod:`cycle.core.chat` (the one place the chat template is applied), marks
the completion tokens, truncates over-long sequences from the end, and returns one right-padded
batch ``[chosen_1..chosen_B; rejected_1..rejected_B]`` for a single forward pass.

Truncation keeps the prompt and the start of the completion (the paper trains the 12B policy on
up to 18K tokens and the 72B/123B ones on 10K). A pair whose prompt leaves no room for a single
completion token cannot be trained on (an empty completion has no length-normalised reward):
``filter_trainable`` drops such pairs with a reason before training, and the collator raises if
it meets one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset

from cycle.core.chat import PromptLike, is_chat, render_prompt, tokenize_chat
from cycle.rlloop.pairs import PreferencePair

SIDES = ("chosen", "rejected")
# A completion: one assistant message's text, or the turns that continue a chat prompt.
Completion = str | Sequence[Mapping[str, str]]


class UntrainablePairError(ValueError):
    """A pair that cannot yield a non-empty completion; ``reason`` says why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def pairs_to_dataset(pairs: Sequence[PreferencePair], prompts: Mapping[str, PromptLike]) -> Dataset:
    """One row per pair; every prompt must be of the same kind (all chats or all strings)."""
    missing = sorted({p.prompt_id for p in pairs} - set(prompts))
    if missing:
        raise ValueError(f"no prompt for prompt ids {missing[:5]} ({len(missing)} in all)")
    kinds = {is_chat(prompts[p.prompt_id]) for p in pairs}
    if len(kinds) > 1:
        raise ValueError("prompts mix chat messages and plain strings; use one kind per dataset")
    rows = {
        "prompt_id": [p.prompt_id for p in pairs],
        "prompt": [_prompt_value(prompts[p.prompt_id]) for p in pairs],
        "chosen": [_completion_value(p.chosen) for p in pairs],
        "rejected": [_completion_value(p.rejected) for p in pairs],
        "chosen_reward": [float(p.chosen_reward) for p in pairs],
        "rejected_reward": [float(p.rejected_reward) for p in pairs],
    }
    return Dataset.from_dict(rows)


def _completion_value(completion: Completion) -> str | list[dict[str, str]]:
    return completion if isinstance(completion, str) else [dict(m) for m in completion]


def _prompt_value(prompt: PromptLike) -> str | list[dict[str, str]]:
    return prompt if isinstance(prompt, str) else [dict(m) for m in prompt]


def _runs(mask: list[int]) -> list[tuple[int, int]]:
    """Start and end (exclusive) of each run of ones: one per assistant turn."""
    runs: list[tuple[int, int]] = []
    for i, m in enumerate(mask):
        if m and (i == 0 or not mask[i - 1]):
            runs.append((i, i + 1))
        elif m:
            runs[-1] = (runs[-1][0], i + 1)
    return runs


def encode_completion(
    tokenizer: Any, prompt: PromptLike, completion: Completion, max_length: int
) -> tuple[list[int], list[int]]:
    """Token ids of prompt + completion and a mask that is 1 on the completion's tokens.

    A chat prompt gets the completion as a final assistant message and the whole conversation is
    tokenized with the chat template (its end-of-turn token counts as a completion token). A
    completion given as messages continues a chat prompt over several turns (a paper's outline,
    results and second half): the tokens of its assistant turns are the completion, its other
    turns are context. A string prompt is tokenized as is, followed by the completion and the
    EOS token. Sequences over ``max_length`` lose tokens from the end.
    """
    if is_chat(prompt):
        turns = (
            [{"role": "assistant", "content": completion}]
            if isinstance(completion, str)
            else [dict(m) for m in completion]
        )
        n_assistant = sum(m["role"] == "assistant" for m in turns)
        ids, assistant = tokenize_chat(tokenizer, [*prompt, *turns])
        runs = _runs(assistant)
        if n_assistant == 0 or len(runs) < n_assistant:
            raise UntrainablePairError(
                "no_completion_tokens", "the chat template marked no assistant tokens"
            )
        mask = [0] * len(ids)
        for run_start, run_end in runs[-n_assistant:]:
            mask[run_start:run_end] = [1] * (run_end - run_start)
        start = runs[-n_assistant][0]
    else:
        if not isinstance(completion, str):
            raise TypeError("a completion given as messages needs a chat prompt")
        prompt_ids = tokenizer(render_prompt(tokenizer, prompt))["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            completion_ids.append(tokenizer.eos_token_id)
        ids = prompt_ids + completion_ids
        start = len(prompt_ids)
        mask = [0] * start + [1] * len(completion_ids)
        if not completion_ids:
            raise UntrainablePairError("no_completion_tokens", "empty completion and no EOS token")
    if start == 0:
        raise UntrainablePairError(
            "empty_prompt", "the prompt has no tokens, nothing predicts the first completion token"
        )
    if start >= max_length:
        raise UntrainablePairError(
            "prompt_too_long", f"the prompt has {start} tokens, max_length is {max_length}"
        )
    return ids[:max_length], mask[:max_length]


def drop_reason(row: Mapping[str, Any], tokenizer: Any, max_length: int) -> str | None:
    """Why a pair row cannot be trained on, or None."""
    for side in SIDES:
        try:
            encode_completion(tokenizer, row["prompt"], row[side], max_length)
        except UntrainablePairError as err:
            return err.reason
    return None


def filter_trainable(
    dataset: Dataset, tokenizer: Any, max_length: int, num_proc: int | None = None
) -> tuple[Dataset, dict[str, str]]:
    """Drop pairs the collator would refuse; returns the kept rows and ``{prompt_id: reason}``."""
    checked = dataset.map(
        lambda row: {"drop_reason": drop_reason(row, tokenizer, max_length) or ""},
        num_proc=num_proc,
    )
    dropped = {
        pid: r for pid, r in zip(checked["prompt_id"], checked["drop_reason"], strict=True) if r
    }
    kept = checked.filter(lambda reason: not reason, input_columns="drop_reason")
    return kept.remove_columns("drop_reason"), dropped


@dataclass
class PreferenceCollator:
    """Rows of a pair dataset -> ``input_ids``, ``attention_mask``, ``completion_mask``.

    The first half of the batch holds the chosen sequences, the second half the rejected ones,
    right-padded to the longest sequence.
    """

    tokenizer: Any
    max_length: int

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        encoded = []
        for side in SIDES:
            for row in rows:
                try:
                    encoded.append(
                        encode_completion(self.tokenizer, row["prompt"], row[side], self.max_length)
                    )
                except UntrainablePairError as err:
                    raise UntrainablePairError(
                        err.reason, f"pair {row.get('prompt_id')!r} ({side}): {err}"
                    ) from None
        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id
        width = max(len(ids) for ids, _ in encoded)
        input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        completion_mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, (ids, mask) in enumerate(encoded):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            attention_mask[i, : len(ids)] = 1
            completion_mask[i, : len(mask)] = torch.tensor(mask)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "completion_mask": completion_mask,
        }
