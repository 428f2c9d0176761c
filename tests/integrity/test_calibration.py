"""Threshold calibration at a target FPR, length buckets, JSON round trip, display probability."""

from __future__ import annotations

import numpy as np
import pytest

from cycle.integrity.calibration import Calibration, calibrate, threshold_at_fpr


def test_threshold_hand_computed():
    human = [0.5, -1.0, 2.0, 0.0, 1.0, 3.0, -0.5, 1.5, 2.5, 0.2]  # sorted: ... 2.0 2.5 3.0
    assert threshold_at_fpr(human, 0.1) == 2.5  # exactly one human (3.0) is above
    assert threshold_at_fpr(human, 0.2) == 2.0  # two above
    assert threshold_at_fpr(human, 0.0) == 3.0  # none above
    assert threshold_at_fpr(human, 0.05) == 3.0  # floor(0.5) = 0 allowed


@pytest.mark.parametrize("fpr", [0.01, 0.05, 0.2])
def test_calibration_hits_fpr_on_synthetic_scores(fpr):
    rng = np.random.default_rng(0)
    human = rng.normal(0.0, 1.0, 20_000)
    cal = calibrate("m", human, target_fpr=fpr)
    assert np.mean(cal.predict(human)) <= fpr  # never above the target on the calibration set
    assert np.mean(cal.predict(human)) == pytest.approx(fpr, abs=1 / human.size)
    fresh = rng.normal(0.0, 1.0, 200_000)  # and close to it on new human text
    assert np.mean(cal.predict(fresh)) == pytest.approx(fpr, rel=0.1)


def test_length_buckets_and_fallback(tmp_path):
    rng = np.random.default_rng(1)
    short = rng.normal(0.0, 1.0, 1000)
    long = rng.normal(2.0, 1.0, 1000)  # long human texts score higher: their threshold must be too
    few = rng.normal(0.0, 1.0, 20)  # too few for a 1% threshold: falls back to the global one
    scores = np.concatenate([short, long, few])
    lengths = np.concatenate([np.full(1000, 100), np.full(1000, 1000), np.full(20, 5000)])
    cal = calibrate("m", scores, 0.01, human_lengths=lengths, length_edges=[500, 2000])
    assert [b.human["n"] for b in cal.buckets] == [1000, 1000, 20]
    assert cal.buckets[2].threshold is None
    assert cal.threshold_for(5000) == cal.threshold
    assert cal.threshold_for(1000) > cal.threshold_for(100) + 1.5
    assert np.mean(cal.predict(short, [100] * 1000)) <= 0.01
    assert np.mean(cal.predict(long, [1000] * 1000)) <= 0.01
    path = cal.save(tmp_path / "calibration.json")
    back = Calibration.load(path)
    assert back == cal and back.model == "m"


def test_display_probability():
    cal = calibrate(
        "m", np.random.default_rng(2).normal(0, 1, 500), machine_scores=[3.0, 4.0, 5.0, 4.5]
    )
    assert cal.probability(cal.human["mean"] - 3) == 0.0  # no spurious left tail
    assert cal.probability(6.0) > 0.99
    assert 0.0 < cal.probability(2.0) < 1.0


def test_windowing_is_recorded_and_a_mismatch_refused(tmp_path):
    from cycle.integrity.calibration import windowing

    fitted = windowing(2048, 512, None, "bos")
    cal = calibrate("m", np.linspace(-2, 2, 200), 0.05, windowing=fitted)
    path = cal.save(tmp_path / "c.json")
    loaded = Calibration.load(path)
    assert loaded.windowing == fitted
    loaded.check_windowing(windowing(2048, 512, None, "bos"))
    with pytest.raises(ValueError, match=r"window=2048, context=512 .* window=8192, context=0"):
        loaded.check_windowing(windowing(8192, 0, None, "bos"), "c.json")
    with pytest.raises(ValueError, match="set detector.window=2048 detector.context=512"):
        loaded.check_windowing(windowing(8192, 0, None, "bos"))
    with pytest.raises(ValueError, match="first_token=bos"):
        loaded.check_windowing(windowing(2048, 512, None, "context"))
    old = Calibration.from_dict({k: v for k, v in cal.to_dict().items() if k != "windowing"})
    with pytest.raises(ValueError, match="does not record the windowing"):
        old.check_windowing(fitted)
