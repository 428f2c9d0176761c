"""Fast-DetectGPT, analytic criterion (Bao et al., ICLR 2024), scoring whole texts in windows.

At every position t the scoring model's log-probability of the observed token is compared with
its expectation under the reference model's next-token distribution:

    mu_t  = sum_v q_ref(v) log p_score(v)
    var_t = sum_v q_ref(v) (log p_score(v))^2 - mu_t^2
    crit  = (sum_t log p_score(x_t) - sum_t mu_t) / sqrt(sum_t var_t)

as in ``get_sampling_discrepancy_analytic`` of the reference implementation: sums over
positions, not means. Positive values are "machine-like". White-box mode (the default) uses one
model as reference and scorer, so one forward pass and one log-softmax serve both roles.

First token: the text is encoded as the reference implementation encodes it (the tokenizer's
own special tokens), and the first token of that encoding is never scored (nothing predicts
it). A tokenizer that prepends a BOS (Llama) therefore has every text token scored; one that
adds none (GPT-2 style, SmolLM2) has its first text token used as context only, as in the
reference. ``FastDetectGPT.first_token`` says which ("bos" or "context").

Windows: a text of N tokens is cut into consecutive, non-overlapping *scored* spans of
``window - context`` tokens (the first span gets ``window`` tokens); each forward pass feeds
``[lead] + the context tokens just before its span + the span`` (lead: the BOS, or without one
the token before the context), and only the span's positions are added to the sums. Every
token is therefore scored exactly once, with at least ``context`` tokens of left context, and
the three sums simply add up across windows. When ``window`` covers the text there is one
window and the result equals a single pass; otherwise the criterion differs (each window's
start loses context: 2048-token windows with 512 tokens of carried context gave a criterion 16%
lower than one 8,192-token pass), so a threshold is only valid for the windowing it was
calibrated with (``windowing`` is recorded in the calibration and checked). ``window`` may be
anything up to the model's context. Windows of all texts are independent, so they are batched
together (right padding). ``max_tokens`` caps the number of scored tokens per text (None
scores the whole text).

Precision: the per-position terms (log-softmax, expectation and variance over the vocabulary)
and their sums are computed in float64 from the model's logits: fp32 vocabulary reductions
made the criterion drift by up to 2.4e-5 from an exact computation on real abstracts. The
float64 ``[batch, logits_chunk, vocab]`` tensors bound the memory: lower ``logits_chunk`` for
large vocabularies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from cycle.integrity.calibration import windowing

__all__ = [
    "CriterionTerms",
    "DetectionScore",
    "FastDetectGPT",
    "VocabularyMismatchError",
    "analytic_criterion",
    "analytic_terms",
    "plan_windows",
]


class VocabularyMismatchError(ValueError):
    """The reference and scoring models do not share a tokenizer/vocabulary."""


@dataclass
class CriterionTerms:
    """Per-text sums over scored positions; additive across windows."""

    ll: float = 0.0  # sum_t log p_score(x_t)
    mean: float = 0.0  # sum_t E_ref[log p_score]
    var: float = 0.0  # sum_t Var_ref[log p_score]
    n: int = 0  # scored tokens

    def add(self, ll: float, mean: float, var: float, n: int) -> None:
        self.ll += ll
        self.mean += mean
        self.var += var
        self.n += n

    @property
    def criterion(self) -> float:
        if self.n == 0 or self.var <= 0:
            return float("nan")
        return (self.ll - self.mean) / math.sqrt(self.var)


@dataclass
class DetectionScore:
    """The criterion of one text, with the terms it is made of."""

    criterion: float
    n_tokens: int  # scored tokens
    total_tokens: int  # scorable tokens of the text (more than n_tokens when max_tokens cut it)
    ll_sum: float
    mean_sum: float
    var_sum: float
    first_token: str = "bos"  # the first-token rule it was scored with (module docstring)

    @property
    def truncated(self) -> bool:
        return self.n_tokens < self.total_tokens

    @property
    def binoculars(self) -> float:
        """Binoculars-style ratio NLL / cross-entropy from the same terms (lower = more machine-like)."""
        return self.ll_sum / self.mean_sum if self.mean_sum else float("nan")

    def to_row(self) -> dict[str, Any]:
        return {
            "criterion": self.criterion,
            "n_tokens": self.n_tokens,
            "total_tokens": self.total_tokens,
            "truncated": self.truncated,
            "first_token": self.first_token,
            "ll_sum": self.ll_sum,
            "mean_sum": self.mean_sum,
            "var_sum": self.var_sum,
            "binoculars": self.binoculars,
        }


def analytic_terms(
    logits_score: torch.Tensor,
    labels: torch.Tensor,
    logits_ref: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-row sums (log-lik, expected log-lik, variance) over the positions where ``mask`` is true.

    ``logits_*`` are ``[B, T, V]`` aligned with ``labels`` ``[B, T]`` (the logits at t predict
    labels[t]); ``logits_ref=None`` is white-box mode. Everything from the logits on is
    float64 (log-softmax, the vocabulary reductions and the sums over positions). The variance
    uses the centered form sum_v q (lp - mu)^2.
    """
    lprobs = torch.log_softmax(logits_score.double(), dim=-1)
    probs_ref = lprobs.exp() if logits_ref is None else torch.softmax(logits_ref.double(), dim=-1)
    ll = lprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    mean = (probs_ref * lprobs).sum(-1)
    var = (probs_ref * (lprobs - mean.unsqueeze(-1)).square()).sum(-1)
    terms = torch.stack([ll, mean, var])
    if mask is not None:
        terms = terms * mask.to(terms.dtype)
    ll_sum, mean_sum, var_sum = terms.sum(-1)
    return ll_sum, mean_sum, var_sum


def analytic_criterion(
    logits_score: torch.Tensor,
    labels: torch.Tensor,
    logits_ref: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fast-DetectGPT's analytic criterion per row: (sum ll - sum mu) / sqrt(sum var)."""
    ll, mean, var = analytic_terms(logits_score, labels, logits_ref, mask)
    return (ll - mean) / var.sqrt()


@dataclass(frozen=True)
class Window:
    """One forward pass: tokens ``ids[start:end]`` are fed, those from ``score_from`` on are scored."""

    text: int
    start: int
    score_from: int
    end: int


def check_window(window: int, context: int) -> None:
    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, got {window}")
    if not 0 <= context < window - 1:
        raise ValueError(
            f"context must be in [0, window - 1), got context={context} window={window}"
        )


def plan_windows(
    n_tokens: int, window: int, context: int, max_tokens: int | None = None, text: int = 0
) -> list[Window]:
    """Non-overlapping scored spans covering ``ids[1:min(n, max_tokens+1)]`` (position 0 is BOS).

    ``n_tokens`` counts the BOS; a window feeds at most ``window`` tokens including its leading
    BOS, of which at most ``context`` (not counting BOS) are unscored left context.
    """
    check_window(window, context)
    end_all = n_tokens if max_tokens is None else min(n_tokens, max_tokens + 1)
    out: list[Window] = []
    pos = 1  # first scored position (the token after BOS)
    while pos < end_all:
        ctx = min(context, pos - 1)  # text tokens before ``pos`` fed as context
        start = pos - ctx
        end = min(end_all, start + window - 1)  # window - 1 text tokens + BOS
        out.append(Window(text=text, start=start, score_from=pos, end=end))
        pos = end
    return out


def _same_vocab(tok_a: Any, tok_b: Any) -> bool:
    return tok_a is tok_b or tok_a.get_vocab() == tok_b.get_vocab()


class FastDetectGPT:
    """Scores texts with the analytic criterion; one model serves both roles by default.

    ``window`` is the number of tokens per forward pass (at most the model's context),
    ``context`` the left context re-fed before each later window's scored span (default a
    quarter of the window), ``max_tokens``
    the cap on scored tokens per text, ``logits_chunk`` the number of positions whose
    ``[B, chunk, V]`` logits are materialized at once (bounds memory for large vocabularies).
    """

    def __init__(
        self,
        scoring_model: Any,
        tokenizer: Any,
        reference_model: Any | None = None,
        reference_tokenizer: Any | None = None,
        window: int = 2048,
        context: int | None = None,
        max_tokens: int | None = None,
        batch_size: int = 4,
        logits_chunk: int = 512,
        name: str = "",
    ) -> None:
        self.scoring_model = scoring_model
        self.reference_model = reference_model if reference_model is not scoring_model else None
        self.tokenizer = tokenizer
        if self.reference_model is not None:
            ref_tok = reference_tokenizer if reference_tokenizer is not None else tokenizer
            if not _same_vocab(tokenizer, ref_tok):
                raise VocabularyMismatchError(
                    "the reference and scoring models must share one vocabulary (Fast-DetectGPT "
                    "compares their next-token distributions token by token); their tokenizers differ"
                )
            v_ref = self.reference_model.get_output_embeddings().weight.shape[0]
            v_score = self.scoring_model.get_output_embeddings().weight.shape[0]
            if min(v_ref, v_score) < len(tokenizer):
                raise VocabularyMismatchError(
                    f"output vocabularies ({v_ref} reference, {v_score} scoring) are smaller than "
                    f"the shared tokenizer ({len(tokenizer)} tokens)"
                )
        context = window // 4 if context is None else context
        check_window(window, context)
        limit = getattr(getattr(scoring_model, "config", None), "max_position_embeddings", None)
        if isinstance(limit, int) and window > limit:
            raise ValueError(
                f"detector window {window} exceeds the model's context ({limit} tokens): "
                f"set detector.window to at most {limit}"
            )
        self.window = window
        self.context = context
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.logits_chunk = logits_chunk
        self.name = name
        bos = tokenizer.bos_token_id
        probe = tokenizer("a")["input_ids"]
        # The reference scores from the second token of the tokenizer's own encoding.
        self.prepend_bos = bos is not None and bool(probe) and probe[0] == bos
        self.bos_id = bos if bos is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.bos_id

    @property
    def device(self) -> torch.device:
        return next(self.scoring_model.parameters()).device

    @property
    def first_token(self) -> str:
        """``bos``: a BOS is prepended and every text token scored; ``context``: the tokenizer adds
        no BOS, so the first text token is context only (the reference implementation's rule)."""
        return "bos" if self.prepend_bos else "context"

    @property
    def windowing(self) -> dict[str, Any]:
        """What a calibration threshold depends on besides the model (recorded and checked)."""
        return windowing(self.window, self.context, self.max_tokens, self.first_token)

    def encode(self, text: str) -> list[int]:
        """The text's tokens, after a BOS when the tokenizer prepends one; position 0 is never
        scored (see the module docstring's first-token rule)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [self.bos_id, *ids] if self.prepend_bos else list(ids)

    def score(self, texts: Sequence[str]) -> list[DetectionScore]:
        return self.score_ids([self.encode(t) for t in texts])

    def score_ids(self, sequences: Sequence[Sequence[int]]) -> list[DetectionScore]:
        """Scores of token sequences as ``encode`` writes them (position 0 is not scored)."""
        terms = [CriterionTerms() for _ in sequences]
        jobs = [
            w
            for i, ids in enumerate(sequences)
            for w in plan_windows(len(ids), self.window, self.context, self.max_tokens, text=i)
        ]
        jobs.sort(key=lambda w: w.end - w.start, reverse=True)  # similar lengths share a batch
        for b in range(0, len(jobs), self.batch_size):
            batch = jobs[b : b + self.batch_size]
            for w, (ll, mean, var, n) in zip(
                batch, self._score_windows(sequences, batch), strict=True
            ):
                terms[w.text].add(ll, mean, var, n)
        return [
            DetectionScore(
                criterion=t.criterion,
                n_tokens=t.n,
                total_tokens=len(ids) - 1,
                ll_sum=t.ll,
                mean_sum=t.mean,
                var_sum=t.var,
                first_token=self.first_token,
            )
            for t, ids in zip(terms, sequences, strict=True)
        ]

    @torch.inference_mode()
    def _score_windows(
        self, sequences: Sequence[Sequence[int]], windows: Sequence[Window]
    ) -> list[tuple[float, float, float, int]]:
        device = self.device
        # The lead token predicts the first fed token: the BOS, or the token before the window.
        rows = [
            [
                self.bos_id if self.prepend_bos else sequences[w.text][w.start - 1],
                *sequences[w.text][w.start : w.end],
            ]
            for w in windows
        ]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        # scored[b, j] is true when the token at j+1 is scored (predicted from position j)
        scored = torch.zeros((len(rows), width - 1), dtype=torch.bool)
        for b, (row, w) in enumerate(zip(rows, windows, strict=True)):
            input_ids[b, : len(row)] = torch.tensor(row)
            attention[b, : len(row)] = 1
            first = 1 + (w.score_from - w.start)  # index of the first scored token in ``row``
            scored[b, first - 1 : len(row) - 1] = True
        input_ids, attention, scored = input_ids.to(device), attention.to(device), scored.to(device)
        labels = input_ids[:, 1:]
        hidden_score, head_score = _hidden_and_head(self.scoring_model, input_ids, attention)
        hidden_ref = head_ref = None
        if self.reference_model is not None:
            hidden_ref, head_ref = _hidden_and_head(self.reference_model, input_ids, attention)
        vocab = len(self.tokenizer) if self.reference_model is not None else None
        sums = torch.zeros((3, len(rows)), dtype=torch.float64, device=device)
        for a in range(0, width - 1, self.logits_chunk):
            z = slice(a, min(a + self.logits_chunk, width - 1))
            logits_score = head_score(hidden_score[:, z])[..., :vocab]
            logits_ref = None if head_ref is None else head_ref(hidden_ref[:, z])[..., :vocab]
            ll, mean, var = analytic_terms(logits_score, labels[:, z], logits_ref, scored[:, z])
            sums += torch.stack([ll, mean, var])
        n = scored.sum(-1).tolist()
        return [
            (float(s[0]), float(s[1]), float(s[2]), int(k))
            for s, k in zip(sums.T.cpu(), n, strict=True)
        ]


def _hidden_and_head(
    model: Any, input_ids: torch.Tensor, attention: torch.Tensor
) -> tuple[torch.Tensor, Any]:
    """Last hidden states and a function mapping them to logits, so that the ``[B, T, V]`` logits
    are built chunk by chunk; models without a separable decoder fall back to full logits."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    head = model.get_output_embeddings()
    if decoder is None or head is None or decoder is model:
        logits = model(input_ids=input_ids, attention_mask=attention, use_cache=False).logits
        return logits[:, :-1], lambda x: x
    hidden = decoder(
        input_ids=input_ids, attention_mask=attention, use_cache=False
    ).last_hidden_state[:, :-1]
    cap = getattr(model.config, "final_logit_softcapping", None)

    def to_logits(h: torch.Tensor) -> torch.Tensor:
        logits = head(h).float()
        return torch.tanh(logits / cap) * cap if cap else logits

    return hidden, to_logits
