"""Best-vs-worst pairing with per-reason drop counts, and disjoint per-round prompt slices."""

from __future__ import annotations

import math

import pytest

from cycle.rlloop.pairs import PreferencePair, best_worst_pairs, select_round_prompts


def test_best_vs_worst_and_drop_reasons():
    samples = {
        "ok": [("a", 5.0), ("b", 7.5), ("c", 3.0)],
        "missing_excluded": [("a", None), ("b", 4.0), ("c", math.nan), ("d", 6.0)],
        "one_sample": [("a", 8.0)],
        "no_samples": [],
        "one_scored": [("a", None), ("b", 6.0), ("c", math.nan)],
        "tie": [("x", 5.0), ("y", 5.0), ("z", 5.0)],
        "same_text": [("same", 8.0), ("same", 3.0)],
    }
    result = best_worst_pairs(samples)
    assert result.pairs == [
        PreferencePair("ok", "b", "c", 7.5, 3.0),
        PreferencePair("missing_excluded", "d", "b", 6.0, 4.0),
    ]
    assert result.pairs[0].margin == 4.5
    assert result.dropped == {
        "one_sample": "too_few_samples",
        "no_samples": "too_few_samples",
        "one_scored": "missing_reward",
        "tie": "tie",
        "same_text": "identical_text",
    }
    assert dict(result.counts) == {
        "too_few_samples": 2,
        "missing_reward": 1,
        "identical_text": 1,
        "tie": 1,
    }


def test_equal_best_rewards_pick_first_and_still_pair():
    result = best_worst_pairs({"p": [("low", 1.0), ("hi1", 6.0), ("hi2", 6.0), ("low2", 1.0)]})
    assert result.pairs == [PreferencePair("p", "hi1", "low", 6.0, 1.0)]
    assert sum(result.counts.values()) == 0


def test_rounds_are_disjoint_and_cover_all_prompts():
    ids = [f"p{i}" for i in range(10)]
    rounds = [select_round_prompts(ids, r, n_rounds=3, seed=7) for r in range(3)]
    assert sorted(len(r) for r in rounds) == [3, 3, 4]
    assert sorted(sum(rounds, [])) == sorted(ids)
    for r in rounds:  # input order is kept
        assert r == [i for i in ids if i in r]


def test_rounds_depend_on_seed_not_on_input_order():
    ids = [f"p{i}" for i in range(30)]
    first = select_round_prompts(ids, 0, n_rounds=3, seed=1)
    assert set(select_round_prompts(list(reversed(ids)), 0, n_rounds=3, seed=1)) == set(first)
    assert set(select_round_prompts(ids, 0, n_rounds=3, seed=2)) != set(first)
    assert select_round_prompts(ids, 0, n_rounds=3, seed=1) == first


def test_fraction_slices():
    ids = [f"p{i}" for i in range(10)]
    rounds = [select_round_prompts(ids, r, fraction=1 / 3, seed=0) for r in range(4)]
    assert [len(r) for r in rounds] == [3, 3, 3, 1]
    assert len(set(sum(rounds, []))) == 10
    with pytest.raises(ValueError, match="runs past"):
        select_round_prompts(ids, 4, fraction=1 / 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"round_index": 0}, "exactly one"),
        ({"round_index": 0, "n_rounds": 3, "fraction": 0.5}, "exactly one"),
        ({"round_index": 3, "n_rounds": 3}, "out of range"),
        ({"round_index": 0, "fraction": 0.0}, "fraction"),
        ({"round_index": -1, "n_rounds": 3}, "round_index"),
    ],
)
def test_bad_round_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_round_prompts(["a", "b", "c"], **kwargs)


def test_duplicate_ids_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        select_round_prompts(["a", "b", "a"], 0, n_rounds=2)
