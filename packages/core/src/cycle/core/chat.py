"""Chat formatting in one place: every backend and every SFT dataset goes through here."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Message = dict[str, str]
GENERATION_MARKER = re.compile(r"\{%-?\s*generation\s*-?%\}")
Chat = list[Message]
PromptLike = str | Sequence[Message]


def is_chat(prompt: Any) -> bool:
    return not isinstance(prompt, str) and all(isinstance(m, dict) and "role" in m for m in prompt)


def render_prompt(tokenizer: Any, prompt: PromptLike) -> str:
    """A plain string is used as is; a chat gets the tokenizer's template and a generation prompt."""
    if isinstance(prompt, str):
        return prompt
    if not is_chat(prompt):
        raise TypeError(
            f"a prompt must be a string or a list of {{'role','content'}} messages, got {type(prompt)!r}"
        )
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            "this tokenizer has no chat template; set model.chat_template or pass plain strings"
        )
    return tokenizer.apply_chat_template(list(prompt), tokenize=False, add_generation_prompt=True)


def tokenize_chat(tokenizer: Any, messages: Sequence[Message]) -> tuple[list[int], list[int]]:
    """Token ids of a whole conversation and a mask that is 1 on assistant tokens (the SFT loss).

    Uses the template's ``{% generation %}`` markers; templates without them (most released
    ones) fall back to rendering each prefix: an assistant turn's tokens are what it adds after
    the generation prompt (its role header), up to and including the end-of-turn token.
    """
    messages = list(messages)
    if GENERATION_MARKER.search(getattr(tokenizer, "chat_template", None) or ""):
        try:
            out = tokenizer.apply_chat_template(
                messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
            )
            mask = list(out["assistant_masks"])
            if any(mask):
                return list(out["input_ids"]), mask
        except (ValueError, KeyError, TypeError):  # e.g. a slow tokenizer: no offsets
            pass

    def encode(chat: list[Message], generation_prompt: bool = False) -> list[int]:
        text = tokenizer.apply_chat_template(
            chat, tokenize=False, add_generation_prompt=generation_prompt
        )
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    ids: list[int] = []
    mask: list[int] = []
    for i, message in enumerate(messages):
        full = encode(messages[: i + 1])
        if message["role"] != "assistant":
            mask.extend([0] * (len(full) - len(ids)))
            ids = full
            continue
        header = encode(messages[:i], generation_prompt=True) if i else ids
        start = len(header) if full[: len(header)] == header else len(ids)
        end = len(full)
        if tokenizer.eos_token_id in full[start:]:  # the turn's end token, not what follows it
            end = start + full[start:].index(tokenizer.eos_token_id) + 1
        mask.extend([0] * (start - len(ids)) + [1] * (end - start) + [0] * (len(full) - end))
        ids = full
    return ids, mask
