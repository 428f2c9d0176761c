"""The backend-independent part of generation: the result type, the interface, prompt encoding."""

from __future__ import annotations

import abc
import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cycle.core.chat import PromptLike, render_prompt
from cycle.core.schemas import SamplingConfig

FinishReason = Literal["stop", "length"]

# Totals of this process's HF ``generate`` calls: calls, sequences, new_tokens (kept),
# decode_steps (the longest row of each call: what the batch paid), at_length (rows stopped by
# max_new_tokens), generate_s (seconds). A piece of work reads them as a difference (rlloop's
# step timings).
GENERATION_STATS: Counter[str] = Counter()


@dataclass
class Completion:
    """One sampled continuation of one prompt.

    ``token_ids`` are the generated ids as the model produced them, up to and including the token
    that ended the generation (EOS, or the token that completed a stop string); ``text`` is their
    decoding without special tokens and cut before the first stop string. ``logprobs`` (when
    requested) has one value per token id: the log-probability of the chosen token under the
    distribution it was sampled from. ``finish_reason`` is "stop" for EOS or a stop string and
    "length" when ``max_new_tokens`` ran out.
    """

    text: str
    token_ids: list[int]
    finish_reason: FinishReason
    logprobs: list[float] | None = None
    prompt_index: int = 0


class Generator(abc.ABC):
    """Samples completions for a batch of prompts (plain strings or chats)."""

    tokenizer: Any

    @abc.abstractmethod
    def generate(
        self,
        prompts: Sequence[PromptLike],
        sampling: SamplingConfig,
        n: int | None = None,
    ) -> list[list[Completion]]:
        """One list of ``n`` completions per prompt, in prompt order (``n`` defaults to ``sampling.n``)."""


def num_samples(sampling: SamplingConfig, n: int | None) -> int:
    n = sampling.n if n is None else n
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    return n


def is_greedy(sampling: SamplingConfig) -> bool:
    return sampling.temperature <= 0


def encode_prompts(tokenizer: Any, prompts: Sequence[PromptLike]) -> list[list[int]]:
    """Token ids of each prompt. A chat's template already writes the special tokens it wants
    (BOS), so only plain strings get the tokenizer's own special tokens added."""
    encoded = []
    for i, prompt in enumerate(prompts):
        text = render_prompt(tokenizer, prompt)
        ids = list(tokenizer(text, add_special_tokens=isinstance(prompt, str))["input_ids"])
        if not ids:
            raise ValueError(
                f"prompt {i} is empty after tokenization; a model needs at least one token"
            )
        encoded.append(ids)
    return encoded


def replicate(groups: list[list[Completion]], n: int) -> list[list[Completion]]:
    """Each single greedy completion repeated ``n`` times (independent copies)."""
    return [[copy.deepcopy(c) for c in group for _ in range(n)] for group in groups]
