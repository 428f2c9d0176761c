"""Ratings read by scoring instead of generation: the expected rating under the model's
next-token distribution right after the rating header.

For one paper the model reads the reviewer prompt followed by the header its review opens with
(``## Rating`` and a blank line, the short review target of ``cycle.reviewer.train``) in one
forward pass; each rating ``v`` of the venue's scale then gets the probability of writing
``str(v)`` and then no further digit (so ``1`` is not counted for ``10``), from one batched pass
over the candidates on the cached prefix. ``expected`` is the mean of the scale under these
probabilities renormalised; ``mass`` is their unnormalised total (how much the model wants to
write a rating there at all: an untrained model puts little mass on it). A conversation that
ends with its review target also gets the target-token loss from the same forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch

from cycle.core.chat import Message, render_prompt, tokenize_chat
from cycle.core.training.sequences import labels_from_mask
from cycle.data.records import DEFAULT_RATING_SCALE
from cycle.data.review_text import common_rating_scale

log = logging.getLogger(__name__)

RATING_HEADER = "## Rating\n\n"
SCALE_COLUMN = "rating_scale"  # a Review-5K column: the venue's [lowest, highest] rating


def row_scales(rows: Any) -> list[tuple[float, float]]:
    """Each Review-5K row's rating scale (a dataset or dicts; ``rating_scale``, else 1-10)."""
    if hasattr(rows, "column_names"):
        values = rows[SCALE_COLUMN] if SCALE_COLUMN in rows.column_names else [None] * len(rows)
    else:
        values = [row.get(SCALE_COLUMN) for row in rows]
    return [(float(v[0]), float(v[1])) if v else DEFAULT_RATING_SCALE for v in values]


def rating_scale(rows: Any, mixed: bool = False) -> tuple[int, int]:
    """The rating scale of Review-5K rows: their one scale (1-10 for rows without one). Rows of
    several venues' scales are an error, unless ``mixed``: then 1-10, onto which their ratings
    must be ``rescale``d (``common_rating_scale``; label such numbers as normalised)."""
    scales = row_scales(rows)
    scale, normalised = common_rating_scale(scales or [DEFAULT_RATING_SCALE])
    if normalised and not mixed:
        raise ValueError(
            f"rows hold {len(set(scales))} rating scales {sorted(set(scales))}; score one venue "
            "at a time (build_data one export per venue)"
        )
    return int(scale[0]), int(scale[1])


def accept_threshold(scale: tuple[int, int]) -> int:
    """The lowest rating above the scale's midpoint: 6 on 1-10 ("marginally above the acceptance
    threshold"), 4 on 1-6 ("borderline accept", NeurIPS 2025)."""
    low, high = scale
    return (low + high) // 2 + 1


@dataclass
class RatingScore:
    expected: float | None  # None when the text has no rating header to score after
    mass: float  # total probability of writing one of the scale's ratings there
    loss: float | None = None  # mean loss on the review target (conversations with one)


class RatingScorer:
    """Scores conversations or prompts with ``model`` (see module docstring)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        scale: tuple[int, int] = (1, 10),
        header: str = RATING_HEADER,
    ) -> None:
        self.model, self.tokenizer, self.header = model, tokenizer, header
        self.values = list(range(int(scale[0]), int(scale[1]) + 1))
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        decoded = [tokenizer.convert_tokens_to_string([t]).lstrip(" ") for t in vocab]
        self.digit_start = torch.tensor([d[:1].isdigit() for d in decoded])

    @torch.no_grad()
    def score(self, messages: Sequence[Message]) -> RatingScore:
        """A prompt (system + user) or a conversation ending with its assistant target."""
        messages = list(messages)
        device = next(self.model.parameters()).device
        if messages[-1]["role"] == "assistant":
            ids, mask = tokenize_chat(self.tokenizer, messages)
            target = messages[-1]["content"]
            at = target.find(self.header)
            prefix_text = (
                None
                if at < 0
                else render_prompt(self.tokenizer, messages[:-1]) + target[: at + len(self.header)]
            )
        else:
            prefix_text = render_prompt(self.tokenizer, messages) + self.header
            ids, mask = self._encode(prefix_text), None
        prefix = self._encode(prefix_text) if prefix_text is not None else None
        shares = prefix is not None and ids[: len(prefix)] == prefix
        was_training = self.model.training
        self.model.eval()
        try:
            out = self.model(input_ids=torch.tensor([ids], device=device), use_cache=True)
            loss = None
            if mask is not None:
                labels = torch.tensor(labels_from_mask(ids, mask)[1:], device=device)
                loss = float(torch.nn.functional.cross_entropy(out.logits[0, :-1], labels))
            if prefix is None:
                return RatingScore(None, 0.0, loss)
            if shares:
                cache, last = out.past_key_values, out.logits[0, len(prefix) - 1]
                if len(ids) > len(prefix):
                    cache.crop(len(prefix) - len(ids))  # a negative count: tokens removed
            else:
                again = self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True)
                cache, last = again.past_key_values, again.logits[0, -1]
            expected, mass = self._expected(prefix_text, prefix, cache, last, device)
            return RatingScore(expected, mass, loss)
        finally:
            self.model.train(was_training)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _candidate(self, prefix_text: str, prefix: list[int], value: int) -> list[int]:
        """The tokens writing ``value`` after the prefix (as the tokenizer splits them there)."""
        ids = self._encode(prefix_text + str(value))
        return ids[len(prefix) :] if ids[: len(prefix)] == prefix else self._encode(str(value))

    def _expected(
        self, prefix_text: str, prefix: list[int], cache: Any, last: torch.Tensor, device: Any
    ) -> tuple[float | None, float]:
        cands = [self._candidate(prefix_text, prefix, v) for v in self.values]
        width = max(len(c) for c in cands)
        pad = self.tokenizer.pad_token_id or 0
        batch = torch.tensor([c + [pad] * (width - len(c)) for c in cands], device=device)
        attention = torch.ones(len(cands), len(prefix) + width, dtype=torch.long, device=device)
        for i, c in enumerate(cands):
            attention[i, len(prefix) + len(c) :] = 0
        cache.batch_repeat_interleave(len(cands))
        logits = self.model(
            input_ids=batch, attention_mask=attention, past_key_values=cache, use_cache=True
        ).logits.float()
        first = torch.log_softmax(last.float(), -1)
        following = torch.log_softmax(logits, -1)
        digit = self.digit_start.to(device)
        log_p = []
        for i, c in enumerate(cands):
            lp = first[c[0]] + sum(following[i, j - 1, c[j]] for j in range(1, len(c)))
            ends = 1 - following[i, len(c) - 1].exp()[digit].sum().clamp(max=1)
            log_p.append(lp + torch.log(ends.clamp(min=1e-12)))
        p = torch.stack(log_p).exp()
        mass = float(p.sum())
        if mass <= 0:
            return None, 0.0
        values = torch.tensor(self.values, dtype=p.dtype, device=device)
        return float((p * values).sum() / p.sum()), mass


class ValidationCurve(L.Callback):
    """A Lightning callback: every ``every_n_steps`` optimizer steps (and before the first and
    after the last), the mean target loss and the mean absolute error of the expected rating
    against each paper's mean human rating on held-out conversations; logged as ``val/loss``,
    ``val/rating_mae``, ``val/rating_mass`` and kept in ``history``."""

    def __init__(
        self,
        conversations: Sequence[Sequence[Message]],
        mean_ratings: Sequence[float | None],
        tokenizer: Any,
        scale: tuple[int, int],
        every_n_steps: int,
    ) -> None:
        self.conversations, self.mean_ratings = list(conversations), list(mean_ratings)
        self.tokenizer, self.scale, self.every = tokenizer, scale, max(1, int(every_n_steps))
        self.history: list[dict[str, float | int | None]] = []
        self._scorer: RatingScorer | None = None

    def evaluate(self, model: Any, step: int) -> dict[str, float | int | None]:
        if self._scorer is None or self._scorer.model is not model:
            self._scorer = RatingScorer(model, self.tokenizer, self.scale)
        scorer = self._scorer
        scores = [scorer.score(c) for c in self.conversations]
        errors = [
            abs(s.expected - r)
            for s, r in zip(scores, self.mean_ratings, strict=True)
            if s.expected is not None and r is not None
        ]
        losses = [s.loss for s in scores if s.loss is not None]
        point = {
            "step": step,
            "val/loss": sum(losses) / len(losses) if losses else None,
            "val/rating_mae": sum(errors) / len(errors) if errors else None,
            "val/rating_mass": sum(s.mass for s in scores) / len(scores) if scores else None,
        }
        self.history.append(point)
        return point

    def _log(self, trainer: Any, module: Any) -> None:
        step = int(trainer.global_step)
        if self.history and self.history[-1]["step"] == step:
            return
        point = self.evaluate(module.model, step)
        log.info("validation %s", point)
        if trainer.logger is not None:
            trainer.logger.log_metrics(
                {k: v for k, v in point.items() if k != "step" and v is not None}, step=step
            )

    def on_train_start(self, trainer: Any, module: Any) -> None:
        self._log(trainer, module)

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        if trainer.global_step % self.every == 0:
            self._log(trainer, module)

    def on_train_end(self, trainer: Any, module: Any) -> None:
        self._log(trainer, module)
