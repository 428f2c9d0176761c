"""Table 1 metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from cycle.reviewer.metrics import (
    decision_metrics,
    held_out_index,
    human_individual_errors,
    proxy_errors,
    proxy_mse_mae,
)

# Paper 0: [3, 5]; paper 1: [6, 6, 8]; paper 2: one rating (skipped); paper 3: ties [5, 5, 5].
HUMAN = [[3, 5], [6, 6, 8], [4], [5, 5, 5]]


def test_human_individual_errors_per_paper() -> None:
    errors = human_individual_errors(HUMAN)
    # [3, 5]: e = -2, +2.  [6, 6, 8]: e = 6-7, 6-7, 8-6 = -1, -1, 2.  [5, 5, 5]: all 0.
    np.testing.assert_allclose(errors.squared, [4.0, 2.0, 0.0])
    np.testing.assert_allclose(errors.absolute, [2.0, 4 / 3, 0.0])
    assert errors.papers == [0, 1, 3]
    assert errors.skipped_few_ratings == 1
    scores = proxy_mse_mae(errors)
    assert scores.mse == pytest.approx(2.0)  # (4 + 2 + 0) / 3: per paper, not per review
    assert scores.mae == pytest.approx((2 + 4 / 3 + 0) / 3)
    assert scores.n_papers == 3


def test_model_n_mode() -> None:
    errors = proxy_errors(HUMAN, [5, 7, 9, None], mode="n")
    # 5 - 4 = 1; 7 - 20/3 = 1/3; paper 2 skipped (one rating); paper 3 skipped (no prediction).
    np.testing.assert_allclose(errors.squared, [1.0, 1 / 9])
    np.testing.assert_allclose(errors.absolute, [1.0, 1 / 3])
    assert (errors.skipped_few_ratings, errors.skipped_no_prediction) == (1, 1)
    scores = proxy_mse_mae(errors)
    assert scores.mse == pytest.approx(5 / 9)
    assert scores.mae == pytest.approx(2 / 3)
    assert (scores.n_papers, scores.skipped_few_ratings, scores.skipped_no_prediction) == (2, 1, 1)


def test_model_n_minus_1_mode_with_two_ratings() -> None:
    # n = 2: the target is the other rating. Predicting 4 for [3, 5] is 1 off either way.
    assert proxy_errors([[3, 5]], [4], mode="n-1", seed=7).absolute.tolist() == [1.0]
    # Predicting 3: held out 3 -> target 5 (error 2), held out 5 -> target 3 (error 0).
    # Default: the exact expectation over both choices.
    expected = proxy_errors([[3, 5]], [3], mode="n-1")
    assert (expected.squared.tolist(), expected.absolute.tolist()) == ([2.0], [1.0])
    seen = {
        float(proxy_errors([[3, 5]], [3], "n-1", s, "sampled", ["p"]).squared[0]) for s in range(40)
    }
    assert seen == {0.0, 4.0}


def test_n_minus_1_expectation_is_exact_and_order_free() -> None:
    human = [[1, 5, 9], [4, 6, 8, 8], [3, 5]]
    pred = [5.0, 7.0, 3.0]
    a = proxy_errors(human, pred, mode="n-1")
    # [1, 5, 9] targets 7, 5, 3 -> sq (4 + 0 + 4) / 3; [4, 6, 8, 8] targets 22/3, 20/3, 6, 6.
    targets = np.array([22, 20, 18, 18]) / 3
    np.testing.assert_allclose(a.squared, [8 / 3, np.mean((7 - targets) ** 2), 2.0])
    np.testing.assert_allclose(a.absolute, [4 / 3, np.mean(np.abs(7 - targets)), 1.0])
    order = [2, 0, 1]
    b = proxy_errors([human[i] for i in order], [pred[i] for i in order], mode="n-1")
    np.testing.assert_allclose(b.squared, a.squared[order])


def test_sampled_n_minus_1_draw_follows_the_paper_id_not_its_position() -> None:
    human = [[1, 5, 9]] * 6
    pred = [5.0] * 6
    ids = [f"paper{i}" for i in range(6)]
    a = proxy_errors(human, pred, "n-1", 3, "sampled", ids)
    assert np.array_equal(a.squared, proxy_errors(human, pred, "n-1", 3, "sampled", ids).squared)
    # Every error is one of the three hand-computed n-1 targets: mean(5, 9)=7, mean(1, 9)=5, mean(1, 5)=3.
    assert set(a.absolute.tolist()) <= {2.0, 0.0}
    for paper, sq in zip(a.papers, a.squared, strict=True):
        held_out = held_out_index(3, ids[paper], seed=3)
        target = np.mean(np.delete(np.array(human[paper], dtype=float), held_out))
        assert sq == (5.0 - target) ** 2
    # Reordering the papers or skipping others does not change which review a paper holds out.
    rev = proxy_errors(human, pred, "n-1", 3, "sampled", ids[::-1])
    np.testing.assert_array_equal(rev.squared, a.squared[::-1])
    b = proxy_errors(human, [None, None, 5.0, None, 5.0, 5.0], "n-1", 3, "sampled", ids)
    assert b.papers == [2, 4, 5]
    assert np.array_equal(b.squared, a.squared[[2, 4, 5]])
    choices = {tuple(held_out_index(3, i, seed=s) for i in ids) for s in range(5)}
    assert len(choices) > 1  # the seed matters
    with pytest.raises(ValueError, match="paper ids"):
        proxy_errors(human, pred, "n-1", 3, "sampled")


def test_none_human_ratings_are_ignored() -> None:
    errors = proxy_errors([[4, None, 6], [None, 7]], [5, 7], mode="n")
    assert errors.papers == [0]
    assert errors.squared.tolist() == [0.0]
    assert errors.skipped_few_ratings == 1


def test_no_evaluable_paper_gives_none_and_bad_input_raises() -> None:
    scores = proxy_mse_mae(proxy_errors([[5]], [5.0]))
    assert (scores.mse, scores.mae, scores.n_papers) == (None, None, 0)
    with pytest.raises(ValueError, match="predictions"):
        proxy_errors([[1, 2]], [])
    with pytest.raises(ValueError, match="mode"):
        proxy_errors([[1, 2]], [1.0], mode="all")  # type: ignore[arg-type]


def test_decision_metrics_hand_computed() -> None:
    true = [True, True, False, False, False]
    pred = [True, False, False, True, None]
    scores = decision_metrics(true, pred)
    # Over the four predicted: TP=1, FN=1, FP=1, TN=1 -> accuracy 1/2; F1(accept)=F1(reject)=1/2.
    assert scores.accuracy == pytest.approx(0.5)
    assert scores.macro_f1 == pytest.approx(0.5)
    assert (scores.n_papers, scores.n_missing) == (4, 1)
    assert scores.coverage == pytest.approx(0.8)


def test_macro_f1_with_a_single_class_prediction_keeps_both_labels() -> None:
    # All Accept: accept P=1/2, R=1 -> F1=2/3; reject has no TP -> F1=0; macro = 1/3.
    scores = decision_metrics([True, False, True, False], [True, True, True, True])
    assert scores.accuracy == pytest.approx(0.5)
    assert scores.macro_f1 == pytest.approx(1 / 3)
    # Only Accepts in truth and prediction: the absent Reject class still counts (as 0).
    assert decision_metrics([True, True], [True, True]).macro_f1 == pytest.approx(0.5)


def test_decision_metrics_without_predictions() -> None:
    scores = decision_metrics([True, False], [None, None])
    assert (scores.accuracy, scores.macro_f1, scores.n_missing, scores.coverage) == (
        None,
        None,
        2,
        0.0,
    )
    assert decision_metrics([], []).coverage is None


def test_table1_prints_the_same_cells_whatever_the_row_order() -> None:
    """MAE n-1 here is exactly 1.875 (by hand: (13/6 + 1 + 13/12 + 13/4) / 4); a row order once
    gave 1.8749999999999998 and printed 1.87 instead of 1.88."""
    import itertools

    from cycle.reviewer.evaluate import human_row, model_row
    from cycle.reviewer.report import _num, table1_markdown

    human = [[8, 5, 3], [10, 10], [3, 8, 10, 8], [5, 5, 5, 6]]
    predicted = [7.5, 9.0, 8.0, 2.0]
    tables, cells = set(), set()
    for order in itertools.permutations(range(4)):
        for flip in (False, True):
            ratings = [human[i][::-1] if flip else human[i] for i in order]
            accepted = [i % 2 == 0 for i in order]
            rows = [
                human_row(ratings, accepted),
                model_row("m", ratings, accepted, [predicted[i] for i in order], [True] * 4),
            ]
            tables.add(tuple(tuple(r.to_dict().values()) for r in rows))
            cells.add(table1_markdown(rows))
    assert len(tables) == 1 and len(cells) == 1  # bit-identical values, identical tables
    (table,) = tables
    assert table[1][2] == 1.875 and "| m | 4.66 | 1.88 |" in cells.pop()
    assert _num(1.8749999999999998) == _num(1.875) == "1.88"
    assert (_num(1.865), _num(0.7424, 100, "%"), _num(None)) == ("1.87", "74.24%", "—")
