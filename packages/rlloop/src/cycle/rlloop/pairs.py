"""Preference pairs from scored samples, and the per-round slice of the prompts.

Per prompt the best-scored sample is ``chosen`` and the worst ``rejected`` (RLHFlow's
``max_min``, SimPO's argmax/argmin). A prompt yields no pair, with one reason, when:

- ``too_few_samples``: fewer than two samples were generated;
- ``missing_reward``: fewer than two samples have a reward (unparseable reviews give ``None``
  or NaN, and such samples are excluded before choosing);
- ``tie``: the best and worst rewards are equal (nothing to prefer);
- ``identical_text``: the best and worst samples have the same text (the reviewer scored one
  text twice, differently).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Sample = tuple[str, float | None]

DROP_REASONS = ("too_few_samples", "missing_reward", "identical_text", "tie")


@dataclass(frozen=True)
class PreferencePair:
    prompt_id: str
    chosen: str
    rejected: str
    chosen_reward: float
    rejected_reward: float

    @property
    def margin(self) -> float:
        return self.chosen_reward - self.rejected_reward


@dataclass
class PairingResult:
    pairs: list[PreferencePair] = field(default_factory=list)
    # prompt_id -> one of DROP_REASONS
    dropped: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> Counter[str]:
        """Dropped prompts per reason (every reason present, zeros included)."""
        counts = Counter(dict.fromkeys(DROP_REASONS, 0))
        counts.update(self.dropped.values())
        return counts


def _has_reward(reward: float | None) -> bool:
    return reward is not None and not math.isnan(reward)


def best_worst_pairs(samples: Mapping[str, Sequence[Sample]]) -> PairingResult:
    """Best vs worst sample per prompt; ties within the best (or worst) go to the first sample."""
    result = PairingResult()
    for prompt_id, group in samples.items():
        if len(group) < 2:
            result.dropped[prompt_id] = "too_few_samples"
            continue
        scored = [(text, float(reward)) for text, reward in group if _has_reward(reward)]
        if len(scored) < 2:
            result.dropped[prompt_id] = "missing_reward"
            continue
        best = max(scored, key=lambda s: s[1])
        worst = min(scored, key=lambda s: s[1])
        if best[1] == worst[1]:
            result.dropped[prompt_id] = "tie"
        elif best[0] == worst[0]:
            result.dropped[prompt_id] = "identical_text"
        else:
            result.pairs.append(PreferencePair(prompt_id, best[0], worst[0], best[1], worst[1]))
    return result


def select_round_prompts(
    prompt_ids: Iterable[str],
    round_index: int,
    n_rounds: int | None = None,
    fraction: float | None = None,
    seed: int = 0,
) -> list[str]:
    """The prompts of one training round: disjoint slices of one seeded permutation.

    The paper trains each round on a third of the prompts (``n_rounds=3`` or ``fraction=1/3``).
    With ``n_rounds`` the prompts are split into that many near-equal slices; with ``fraction``
    each slice holds ``round(fraction * len)`` prompts (at least one). The permutation depends
    only on the set of ids and the seed, not on their order, and the result keeps input order.
    """
    ids = list(prompt_ids)
    if len(set(ids)) != len(ids):
        dupes = sorted(k for k, v in Counter(ids).items() if v > 1)
        raise ValueError(f"duplicate prompt ids: {dupes[:5]}")
    if (n_rounds is None) == (fraction is None):
        raise ValueError("give exactly one of n_rounds and fraction")
    if round_index < 0:
        raise ValueError(f"round_index must be >= 0, got {round_index}")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    if n_rounds is not None:
        if n_rounds < 1:
            raise ValueError(f"n_rounds must be >= 1, got {n_rounds}")
        if round_index >= n_rounds:
            raise ValueError(f"round_index {round_index} out of range for {n_rounds} rounds")
        base, extra = divmod(len(order), n_rounds)
        start = round_index * base + min(round_index, extra)
        size = base + (round_index < extra)
    else:
        assert fraction is not None
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        size = max(1, round(fraction * len(order)))
        start = round_index * size
        if start >= len(order):
            raise ValueError(
                f"round {round_index} with {size} prompts per round runs past the {len(order)} prompts"
            )
    chosen = set(order[start : start + size])
    return [i for i in ids if i in chosen]
