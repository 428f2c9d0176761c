"""CycleReviewer inference: papers -> sampled review sets -> parsed reviews and rewards.

The prompt is ``cycle.data.review5k.reviewer_prompt`` (the same function that builds the SFT
view), with the paper cut to the prompt budget by ``fit_paper`` (the same cut as in training).
An output from which no rating can be read gives no reward (``None``): it is counted and
logged, never scored as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any, Literal

from cycle.core.chat import Message, render_prompt, tokenize_chat
from cycle.core.generation.base import Generator
from cycle.core.schemas import BackendConfig, ModelConfig, SamplingConfig
from cycle.data.records import DEFAULT_RATING_SCALE, Paper
from cycle.data.review5k import reviewer_prompt
from cycle.reviewer.format import ParsedReview, ReviewSet, parse_review
from cycle.reviewer.schemas import PAPER_TRUNCATIONS, REWARDS, ReviewerConfig

log = logging.getLogger(__name__)

TRUNCATION_MARK = "\n\n[...]\n\n"  # between the kept beginning and end in ``middle`` mode
# In ``end`` mode a paper is first cut to this many characters per budget token (English text
# runs ~4 per token), so that the exact cut's tokenizations scale with the budget, not the paper.
PRECUT_CHARS_PER_TOKEN = 8


def _cut(text: str, offsets: Sequence[tuple[int, int]], keep: int, mode: str) -> str:
    """``text`` reduced to about ``keep`` of its tokens (``offsets``: each token's char span)."""
    if keep <= 0:
        return ""
    if mode == "end":
        return text[: offsets[keep - 1][1]]
    head = (keep + 1) // 2
    tail = keep - head
    start = offsets[len(offsets) - tail][0] if tail else len(text)
    return text[: offsets[head - 1][1]] + TRUNCATION_MARK + text[start:]


def fit_paper(
    tokenizer: Any,
    messages: Sequence[Message],
    max_tokens: int,
    mode: str = "end",
    min_paper_tokens: int = 1,
) -> tuple[list[Message], int] | None:
    """The reviewer conversation with its paper (the user turn) cut to fit ``max_tokens``.

    ``messages`` is a prompt (``reviewer_prompt``: counted with the generation header, as a
    generator sees it) or a training conversation ending with the assistant's review (counted
    whole; the review is never cut). Returns ``(messages, paper tokens dropped)``, or None when
    fewer than ``min_paper_tokens`` paper tokens would remain.
    """
    if mode not in PAPER_TRUNCATIONS:
        raise ValueError(f"unknown paper truncation '{mode}' ({', '.join(PAPER_TRUNCATIONS)})")
    messages = [dict(m) for m in messages]
    user = next(i for i, m in enumerate(messages) if m["role"] == "user")
    paper_text = messages[user]["content"]
    has_target = messages[-1]["role"] == "assistant"

    def build(text: str) -> list[Message]:
        out = [dict(m) for m in messages]
        out[user]["content"] = text
        return out

    def length(chat: list[Message]) -> int:
        if has_target:
            return len(tokenize_chat(tokenizer, chat)[0])
        return len(tokenizer(render_prompt(tokenizer, chat), add_special_tokens=False)["input_ids"])

    precut = 0  # tokens of the part cut off before the exact cut (one encode)
    limit = max_tokens * PRECUT_CHARS_PER_TOKEN
    if mode == "end" and len(paper_text) > limit:
        precut = len(tokenizer(paper_text[limit:], add_special_tokens=False)["input_ids"])
        paper_text = paper_text[:limit]
        messages[user]["content"] = paper_text
    total = length(messages)
    if total <= max_tokens:
        return messages, precut
    enc = tokenizer(paper_text, add_special_tokens=False, return_offsets_mapping=True)
    offsets, n_paper = enc["offset_mapping"], len(enc["input_ids"])
    keep = n_paper - (total - max_tokens)
    # Re-tokenizing a cut text can merge differently at the cut (and the middle mark adds
    # tokens): measure again and shrink by the excess until it fits.
    while keep >= min_paper_tokens:
        chat = build(_cut(paper_text, offsets, keep, mode))
        total = length(chat)
        if total <= max_tokens:
            return chat, n_paper - keep + precut
        keep -= total - max_tokens
    return None


def rating_of(parsed: ParsedReview, reward: str = "mean") -> float | None:
    """The reward one output gives: the mean (or min / max) of its parsed ratings; for
    DeepReviewer output, the rating of its final ``\\boxed_review`` when it has one (the review
    its decision comes from), else the simulated reviewers' mean / min / max."""
    if reward not in REWARDS:
        raise ValueError(f"unknown reward '{reward}' ({', '.join(REWARDS)})")
    return parsed.reward_rating(reward)


@dataclass
class PaperReview:
    """The k review sets sampled for one paper, and what they give as a reward and a decision.

    Scores average over the parseable samples only; ``reward`` is None when none has a rating.
    ``mean_rating`` / ``min_rating`` / ``max_rating`` describe the review sets (for DeepReviewer,
    the simulated reviewers), ``final_rating`` DeepReviewer's final reviews (None otherwise).
    ``decision`` is the majority of the parsed decisions (a tie goes to the first parsed one).
    ``n_truncated``: samples that hit the token limit (a score they end in is not used).
    """

    texts: list[str]
    parsed: list[ParsedReview]
    reward: float | None
    mean_rating: float | None
    min_rating: float | None
    max_rating: float | None
    decision: Literal["Accept", "Reject"] | None
    n_unparseable: int
    paper_tokens_dropped: int = 0
    final_rating: float | None = None
    n_truncated: int = 0

    @property
    def review_sets(self) -> list[ReviewSet]:
        return [p.review_set for p in self.parsed]

    @property
    def accepted(self) -> bool | None:
        return None if self.decision is None else self.decision == "Accept"

    def to_row(self) -> dict[str, Any]:
        return {
            "reward": self.reward,
            "mean_rating": self.mean_rating,
            "min_rating": self.min_rating,
            "max_rating": self.max_rating,
            "final_rating": self.final_rating,
            "decision": self.decision,
            "n_unparseable": self.n_unparseable,
            "n_truncated": self.n_truncated,
            "paper_tokens_dropped": self.paper_tokens_dropped,
            "samples": [
                {
                    "text": t,
                    "ratings": p.ratings,
                    "final_rating": p.final_rating,
                    "decision": p.decision,
                    "truncated": p.truncated,
                    "incomplete": p.incomplete,
                    "problems": p.problems,
                }
                for t, p in zip(self.texts, self.parsed, strict=True)
            ],
        }


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def aggregate(
    texts: Sequence[str],
    reward: str = "mean",
    dropped: int = 0,
    truncated: Sequence[bool] | None = None,
) -> PaperReview:
    """Parse ``texts`` (k samples for one paper) and average what they give; ``truncated[i]``
    says sample i hit the token limit."""
    cut = list(truncated) if truncated is not None else [False] * len(texts)
    parsed = [parse_review(t, c) for t, c in zip(texts, cut, strict=True)]
    rated = [p for p in parsed if rating_of(p, reward) is not None]
    decisions = [p.decision for p in parsed if p.decision is not None]
    decision = None
    if decisions:
        accepts = decisions.count("Accept")
        rejects = len(decisions) - accepts
        decision = (
            decisions[0] if accepts == rejects else ("Accept" if accepts > rejects else "Reject")
        )
    return PaperReview(
        texts=list(texts),
        parsed=parsed,
        reward=_mean([rating_of(p, reward) for p in rated]),
        mean_rating=_mean([p.mean_rating for p in rated]),
        min_rating=_mean([p.min_rating for p in rated]),
        max_rating=_mean([p.max_rating for p in rated]),
        decision=decision,
        n_unparseable=len(parsed) - len(rated),
        paper_tokens_dropped=dropped,
        final_rating=_mean([p.final_rating for p in parsed]),
        n_truncated=sum(cut),
    )


@dataclass
class ReviewCounts:
    """Running totals over every ``Reviewer.review`` call."""

    papers: int = 0
    outputs: int = 0
    unparseable: int = 0  # outputs with no readable rating (missing reward)
    no_decision: int = 0
    missing_rewards: int = 0  # papers none of whose k outputs has a rating
    truncated_papers: int = 0  # papers cut to fit the prompt budget
    truncated_outputs: int = 0  # outputs that hit sampling.max_new_tokens

    @property
    def parse_rate(self) -> float | None:
        return (self.outputs - self.unparseable) / self.outputs if self.outputs else None


@dataclass
class Reviewer:
    """Reviews papers through any ``Generator`` (HF, vLLM, an API client behind the interface).

    ``context_length`` and ``sampling.max_new_tokens`` set the prompt budget unless
    ``config.max_prompt_tokens`` does; papers are cut with ``fit_paper`` (not at all when the
    generator has no tokenizer, e.g. a remote API).
    """

    generator: Generator
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    config: ReviewerConfig = field(default_factory=ReviewerConfig)
    context_length: int | None = None
    counts: ReviewCounts = field(default_factory=ReviewCounts)

    def __post_init__(self) -> None:
        if self.config.reward not in REWARDS:
            raise ValueError(f"unknown reward '{self.config.reward}' ({', '.join(REWARDS)})")
        if self.config.k < 1:
            raise ValueError(f"reviewer.k must be at least 1, got {self.config.k}")

    @property
    def max_prompt_tokens(self) -> int | None:
        if self.config.max_prompt_tokens is not None:
            return self.config.max_prompt_tokens
        if self.context_length is None:
            return None
        return self.context_length - self.sampling.max_new_tokens

    def prompt(self, paper: str | Paper) -> tuple[list[Message], int]:
        """The chat for one paper and how many paper tokens were cut to fit the budget."""
        text = paper.text if isinstance(paper, Paper) else paper
        scale = self.config.rating_scale or DEFAULT_RATING_SCALE
        budget = self.max_prompt_tokens
        if budget is None or getattr(self.generator, "tokenizer", None) is None:
            return reviewer_prompt(text, self.config.num_reviews, scale), 0
        fitted = fit_paper(
            self.generator.tokenizer,
            reviewer_prompt(text, self.config.num_reviews, scale),
            budget,
            self.config.paper_truncation,
        )
        if fitted is None:
            raise ValueError(
                f"a prompt budget of {budget} tokens leaves no room for the paper; raise "
                "model.context_length or reviewer.max_prompt_tokens, or lower sampling.max_new_tokens"
            )
        return fitted

    def review(self, papers: Sequence[str | Paper]) -> list[PaperReview]:
        prompts = [self.prompt(p) for p in papers]
        outputs = self.generator.generate([m for m, _ in prompts], self.sampling, n=self.config.k)
        results = [
            aggregate(
                [c.text for c in completions],
                self.config.reward,
                dropped,
                [c.finish_reason == "length" for c in completions],
            )
            for completions, (_, dropped) in zip(outputs, prompts, strict=True)
        ]
        self._count(results)
        return results

    def rewards(self, papers: Sequence[str | Paper]) -> list[float | None]:
        return [r.reward for r in self.review(papers)]

    def _count(self, results: Sequence[PaperReview]) -> None:
        c = self.counts
        unparseable = sum(r.n_unparseable for r in results)
        missing = sum(r.reward is None for r in results)
        c.papers += len(results)
        c.outputs += sum(len(r.texts) for r in results)
        c.unparseable += unparseable
        c.no_decision += sum(p.decision is None for r in results for p in r.parsed)
        c.missing_rewards += missing
        c.truncated_papers += sum(r.paper_tokens_dropped > 0 for r in results)
        c.truncated_outputs += sum(r.n_truncated for r in results)
        if unparseable:
            log.warning(
                "%d of %d review outputs had no readable rating; %d of %d papers have no reward",
                unparseable,
                sum(len(r.texts) for r in results),
                missing,
                len(results),
            )


def build_reviewer(
    model: ModelConfig,
    backend: BackendConfig,
    sampling: SamplingConfig,
    config: ReviewerConfig,
    generator_factory: Callable[..., Generator] | None = None,
) -> Reviewer:
    """A ``Reviewer`` over ``build_generator(backend, model)`` (or ``generator_factory()``)."""
    if generator_factory is not None:
        generator = generator_factory()
    else:
        from cycle.core.generation.factory import build_generator

        generator = build_generator(backend, model, progress=False)
    return Reviewer(generator, sampling, config, context_length=model.context_length)
