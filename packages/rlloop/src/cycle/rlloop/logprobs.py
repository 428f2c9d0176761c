"""Completion log-probs from final hidden states, without a [tokens, vocab] logits tensor.

The decoder body runs once over the whole padded batch. Only the hidden states that predict a
completion token are kept; they go through ``lm_head`` in chunks of ``chunk_size`` tokens, each
chunk but the last under ``torch.utils.checkpoint`` so that autograd stores the chunk's hidden
states and not its logits: the backward pass recomputes one chunk's logits at a time. At a 32K-token
completion and a 131K vocabulary that is the difference between ~16 GiB of fp32 logits (plus
their log-softmax) and one ``chunk_size x vocab`` block.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


def decoder_and_head(model: Any) -> tuple[nn.Module, nn.Module]:
    """The decoder body (embeddings, layers, final norm) and the output projection of a causal LM.

    Goes through the Hugging Face API (``get_decoder``, ``get_output_embeddings``), which PEFT
    models forward to the wrapped model, so LoRA adapters injected into either part are used.
    Models that post-process the ``lm_head`` output are refused rather than silently mis-scored.
    """
    config = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    for attr in ("final_logit_softcapping", "logit_scale"):
        if getattr(config, attr, None) not in (None, 1.0):
            raise NotImplementedError(
                f"{type(model).__name__} sets {attr}; chunked log-probs assume raw lm_head logits"
            )
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    if decoder is None or head is None:
        raise TypeError(
            f"{type(model).__name__} exposes no decoder/output embeddings (not a causal LM?)"
        )
    return decoder, head


def _chunk_token_logps(
    head: nn.Module, states: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    logits = head(states)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))  # bf16/fp16 -> fp32
    return logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - logits.logsumexp(-1)


def completion_logprobs(
    model: Any,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    completion_mask: torch.Tensor,
    chunk_size: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence sum of completion-token log-probs (at least fp32) and completion-token counts.

    ``completion_mask[b, t] == 1`` marks token ``t`` of row ``b`` as a completion token; it is
    scored by the hidden state at ``t - 1``, so position 0 can never be one. Rows are padded on
    the right (``attention_mask`` 0 on padding).
    """
    if completion_mask.shape != input_ids.shape or attention_mask.shape != input_ids.shape:
        raise ValueError("input_ids, attention_mask and completion_mask must have the same shape")
    if completion_mask[:, 0].any():
        raise ValueError(
            "the first token of a row cannot be a completion token (nothing predicts it)"
        )
    if (completion_mask.bool() & ~attention_mask.bool()).any():
        raise ValueError("completion_mask marks padding tokens")
    decoder, head = decoder_and_head(model)
    hidden = decoder(
        input_ids=input_ids, attention_mask=attention_mask, use_cache=False
    ).last_hidden_state
    rows, cols = completion_mask[:, 1:].bool().nonzero(as_tuple=True)
    states = hidden[rows, cols]
    targets = input_ids[rows, cols + 1]
    score = partial(_chunk_token_logps, head)
    starts = range(0, states.shape[0], chunk_size)
    # The last chunk keeps its logits for the backward pass, which starts there and frees them
    # before recomputing any other chunk: the peak stays one chunk, and a completion that fits in
    # one chunk is scored with no recomputation at all.
    chunks = [
        (score if i == starts[-1] else partial(checkpoint, score, use_reentrant=False))(
            states[i : i + chunk_size], targets[i : i + chunk_size]
        )
        for i in starts
    ]
    token_logps = torch.cat(chunks) if chunks else hidden.new_zeros(0).float()
    # Scatter back to [rows, positions] and reduce with sum(): a pairwise sum, as accurate as the
    # full-logits path; a sequential index_add drifts by ~1e-5 over thousands of fp32 tokens.
    per_position = token_logps.new_zeros(completion_mask[:, 1:].shape).index_put(
        (rows, cols), token_logps
    )
    sums = per_position.sum(dim=1)
    counts = completion_mask.bool().sum(dim=1)
    return sums, counts


def pair_logprobs(
    model: Any, batch: dict[str, torch.Tensor], chunk_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass over a ``[chosen; rejected]`` batch (see ``PreferenceCollator``).

    Returns ``(chosen_logps_sum, chosen_len, rejected_logps_sum, rejected_len)``.
    """
    n_rows = batch["input_ids"].shape[0]
    if n_rows % 2:
        raise ValueError(f"a pair batch holds chosen rows then rejected rows; got {n_rows} rows")
    sums, counts = completion_logprobs(
        model, batch["input_ids"], batch["attention_mask"], batch["completion_mask"], chunk_size
    )
    half = n_rows // 2
    return sums[:half], counts[:half], sums[half:], counts[half:]
