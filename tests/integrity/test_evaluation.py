"""Metric functions against hand-computed values; report and ROC figure."""

from __future__ import annotations

import numpy as np
import pytest

from cycle.integrity.evaluation import (
    bootstrap_ci,
    detection_metrics,
    evaluate_format,
    plot_roc,
    table6_markdown,
    tpr_at_fpr,
)

# 4 human (0), 4 machine (1). Pairs machine>human: 3.0 beats all 4; 2.5 beats 4; 0.5 beats 2
# (0.1, 0.4); 0.3 beats 1 (0.1) -> 11 of 16 -> AUROC 0.6875.
LABELS = [0, 0, 0, 0, 1, 1, 1, 1]
SCORES = [0.1, 0.4, 0.9, 2.0, 0.3, 0.5, 2.5, 3.0]


def test_metrics_hand_computed():
    m = detection_metrics(LABELS, SCORES, 1.0)
    # predicted machine (>1.0): 2.0(h), 2.5(m), 3.0(m) -> TP 2, FP 1, FN 2, TN 3
    assert m["auroc"] == pytest.approx(11 / 16)
    assert m["accuracy"] == pytest.approx(5 / 8)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
    assert m["fpr"] == pytest.approx(1 / 4)
    # 1% FPR with 4 humans allows 0 false positives -> threshold 2.0 -> TPR 2/4
    assert m["tpr_at_1fpr"] == pytest.approx(0.5)
    assert tpr_at_fpr(LABELS, SCORES, 0.25) == pytest.approx(0.5)  # one FP allowed: t = 0.9


def test_metrics_agree_with_sklearn_on_ties_and_random_data():
    from sklearn.metrics import (
        accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    s = np.round(rng.normal(y * 0.8, 1.0), 1)  # rounding makes ties
    m = detection_metrics(y, s, 0.4)
    pred = (s > 0.4).astype(int)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))


def test_per_text_thresholds():
    m = detection_metrics(LABELS, SCORES, [1.0, 1.0, 1.0, 2.5, 0.2, 1.0, 1.0, 1.0])
    # human 2.0 now below its 2.5 threshold; machine 0.3 above its 0.2 -> TP 3, FP 0
    assert m["fpr"] == 0.0 and m["recall"] == pytest.approx(3 / 4)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    y = np.array([0] * 200 + [1] * 200)
    s = np.concatenate([rng.normal(0, 1, 200), rng.normal(2, 1, 200)])
    a = bootstrap_ci(y, s, 1.0, n_boot=200, seed=3)
    assert a == bootstrap_ci(y, s, 1.0, n_boot=200, seed=3)
    point = detection_metrics(y, s, 1.0)
    for k in ("auroc", "accuracy", "f1"):
        lo, hi = a[k]
        assert lo <= point[k] <= hi and hi - lo < 0.15


def test_report_and_figure(tmp_path):
    res = [
        evaluate_format("paper", LABELS, SCORES, 1.0, n_boot=50),
        evaluate_format("review", LABELS, SCORES, 1.0, n_boot=0),
    ]
    md = table6_markdown(res, "Table 6", notes=["machine texts: prefix continuations"])
    assert "| paper | 4 | 4 | 1.000 | 62.50 [" in md and "| review | 4 | 4 | 1.000 | 62.50 |" in md
    assert "prefix continuations" in md
    path = plot_roc(res, tmp_path / "roc.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
