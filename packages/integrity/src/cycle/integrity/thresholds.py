"""Per-format decision thresholds for the detect stage: calibrated on held-out human texts at
``detector.target_fpr``, or loaded from ``detector.calibration_file``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cycle.integrity.calibration import Calibration, calibrate, windowing
from cycle.integrity.schemas import DetectorConfig
from cycle.integrity.texts import FORMATS, Row

__all__ = ["apply_thresholds", "calibrate_thresholds"]


def calibrate_thresholds(
    scored: list[Row], det: DetectorConfig, model_name: str, seed: int
) -> tuple[dict[str, Calibration], list[Row], list[str]]:
    """The calibration per format, the human rows left to evaluate and notes for the report.
    Rows used to calibrate are marked ``calibration``."""
    scoring = windowing(det.window, det.context, det.max_tokens, scored[0].get("first_token"))
    if det.calibration_file:
        human = [r for r in scored if r["label"] == 0]
        return _load(det, model_name, scoring), human, [f"threshold from {det.calibration_file}"]
    calib_rows, eval_human, notes = _split_for_calibration(scored, det, seed)
    calibrations = {
        fmt: calibrate(
            model_name,
            [r["criterion"] for r in rows],
            det.target_fpr,
            human_lengths=[r["n_tokens"] for r in rows],
            length_edges=det.length_edges,
            windowing=scoring,
        )
        for fmt, rows in calib_rows.items()
    }
    for rows in calib_rows.values():
        for r in rows:
            r["calibration"] = True
    counts = ", ".join(f"{f}: {c.human['n']}" for f, c in calibrations.items())
    where = (
        "held-out human texts, not evaluated"
        if det.calibrate_on == "holdout"
        else "all human texts (in-sample)"
    )
    notes.append(
        f"thresholds at {det.target_fpr:.2%} FPR per format, calibrated on {where} ({counts})"
    )
    return calibrations, eval_human, notes


def _load(det: DetectorConfig, model_name: str, scoring: dict[str, Any]) -> dict[str, Calibration]:
    """The saved calibration, checked to match the scoring model and windowing."""
    saved = {
        k: Calibration.from_dict(v)
        for k, v in json.loads(Path(det.calibration_file).read_text()).items()
    }
    wrong = {c.model for c in saved.values()} - {model_name}
    if wrong:
        raise ValueError(
            f"{det.calibration_file} was calibrated for {sorted(wrong)}, not {model_name}"
        )
    for cal in saved.values():
        cal.check_windowing(scoring, str(det.calibration_file))
    return saved


def _split_for_calibration(
    rows: list[Row], det: DetectorConfig, seed: int
) -> tuple[dict[str, list[Row]], list[Row], list[str]]:
    """Human rows used to calibrate (per format) and those left for evaluation."""
    notes: list[str] = []
    calib: dict[str, list[Row]] = {}
    evaluate: list[Row] = []
    rng = np.random.default_rng(seed)
    for fmt in FORMATS:
        group = [r for r in rows if r["format"] == fmt and r["label"] == 0]
        if not group:
            continue
        if det.calibrate_on == "holdout" and len(group) >= 4:
            order = rng.permutation(len(group))
            k = max(1, round(det.holdout_fraction * len(group)))
            calib[fmt] = [group[i] for i in order[:k]]
            evaluate += [group[i] for i in order[k:]]
        else:
            if det.calibrate_on == "holdout":
                notes.append(
                    f"{fmt}: only {len(group)} human texts, calibrated in-sample on all of them"
                )
            calib[fmt] = group
            evaluate += group
    return calib, evaluate, notes


def apply_thresholds(scored: list[Row], calibrations: dict[str, Calibration]) -> None:
    """Adds each row's threshold, machine prediction and probability (NaN / False for a format
    with no calibration)."""
    for r in scored:
        cal = calibrations.get(r["format"])
        r["threshold"] = cal.threshold_for(r["n_tokens"]) if cal else float("nan")
        r["predicted_machine"] = bool(cal and r["criterion"] > r["threshold"])
        r["probability"] = cal.probability(r["criterion"]) if cal else float("nan")
