"""SimPO with an NLL term (CycleResearcher §3.3, Eq. 4) and its config.

    L = -E[log σ(β/|y_w| · log π(y_w|x) - β/|y_l| · log π(y_l|x) - γ)] - λ · E[log π(y_w|x)]

The loss only needs, per sequence, the sum of its completion-token log-probs and the number of
completion tokens (see :mod:`cycle.rlloop.logprobs`), so it never sees logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from cycle.rlloop.logprobs import pair_logprobs


@dataclass
class SimPOConfig:
    """Hyperparameters of the SimPO + NLL objective.

    The CycleResearcher paper gives the objective (Eq. 4) and a learning rate of 5e-7, but the
    numbers below come from the public SimPO references:

    - ``beta=2.0``: SimPO's default (princeton-nlp/SimPO ``scripts/simpo_config.py``); the
      SimPO paper uses 2.0-2.5, later configs up to 10.
    - ``gamma=0.5``: the *absolute* target margin γ (TRL's ``simpo_gamma``, whose default is
      also 0.5); with β=2 this is SimPO's default ``gamma_beta_ratio=0.25``.
    - ``lam=0.05``: the NLL weight of CPO-SimPO (fe1ixxu/CPO_SIMPO, ``cpo_alpha=0.05``).
      The NLL term is a token mean over the chosen completion tokens of the micro-batch
      (as TRL's ``cpo_alpha`` and Liger), so λ does not scale with completion length.
    - ``chunk_size``: completion tokens per ``lm_head`` chunk when gathering log-probs; it only
      trades peak memory against kernel size, never the result.
    """

    beta: float = 2.0
    gamma: float = 0.5
    lam: float = 0.05
    chunk_size: int = 1024

    def __post_init__(self) -> None:
        if self.beta <= 0:
            raise ValueError(f"simpo beta must be > 0, got {self.beta}")
        if self.lam < 0:
            raise ValueError(f"simpo lam (NLL weight) must be >= 0, got {self.lam}")
        if self.chunk_size < 1:
            raise ValueError(f"simpo chunk_size must be >= 1, got {self.chunk_size}")


def _check_lengths(name: str, logps_sum: torch.Tensor, lengths: torch.Tensor) -> None:
    if logps_sum.shape != lengths.shape or logps_sum.dim() != 1:
        raise ValueError(
            f"{name}: log-prob sums {tuple(logps_sum.shape)} and token counts "
            f"{tuple(lengths.shape)} must be 1-D tensors of the same shape"
        )
    empty = (lengths <= 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"{name} completion(s) at batch index {empty} have 0 completion tokens; "
            "the length-normalised SimPO reward is undefined (drop or repair such pairs)"
        )


def simpo_nll_loss(
    chosen_logps_sum: torch.Tensor,
    chosen_len: torch.Tensor,
    rejected_logps_sum: torch.Tensor,
    rejected_len: torch.Tensor,
    cfg: SimPOConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Mean SimPO loss over the pairs plus λ times the chosen-token NLL.

    Arguments are 1-D tensors over pairs: summed completion log-probs and completion token
    counts. Returns the scalar loss and detached metrics (``rewards/*`` are β times the mean
    log-prob, as in TRL's CPO trainer).
    """
    _check_lengths("chosen", chosen_logps_sum, chosen_len)
    _check_lengths("rejected", rejected_logps_sum, rejected_len)
    if chosen_logps_sum.shape != rejected_logps_sum.shape:
        raise ValueError(
            f"{chosen_logps_sum.numel()} chosen but {rejected_logps_sum.numel()} rejected sequences"
        )
    chosen_len = chosen_len.to(chosen_logps_sum.dtype)
    rejected_len = rejected_len.to(rejected_logps_sum.dtype)
    chosen_avg = chosen_logps_sum / chosen_len
    rejected_avg = rejected_logps_sum / rejected_len
    margin = cfg.beta * (chosen_avg - rejected_avg)
    simpo = -F.logsigmoid(margin - cfg.gamma).mean()
    # Token mean over all chosen completion tokens of the micro-batch (TRL cpo_alpha, Liger).
    nll = -chosen_logps_sum.sum() / chosen_len.sum()
    loss = simpo + cfg.lam * nll
    metrics = {
        "loss": loss,
        "simpo_loss": simpo,
        "nll": nll,
        "rewards/chosen": cfg.beta * chosen_avg.mean(),
        "rewards/rejected": cfg.beta * rejected_avg.mean(),
        "rewards/margin": margin.mean(),
        "rewards/accuracy": (chosen_avg > rejected_avg).to(chosen_avg.dtype).mean(),
        "logps/chosen": chosen_avg.mean(),
        "logps/rejected": rejected_avg.mean(),
    }
    return loss, {k: v.detach() for k, v in metrics.items()}


def simpo_nll_batch_loss(
    model: Any, batch: dict[str, torch.Tensor], cfg: SimPOConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """SimPO + NLL of a ``[chosen; rejected]`` batch from ``PreferenceCollator``: one forward pass."""
    return simpo_nll_loss(*pair_logprobs(model, batch, cfg.chunk_size), cfg)
