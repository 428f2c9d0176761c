"""``cycle detect``: Fast-DetectGPT on human vs machine papers and reviews (paper §3.4, Table 6).

Human texts come from JSONL/text files (``detect.human_files``) and/or a corpus in cycle.data's
raw layout (``detect.human_corpus``: ``sample`` = the bundled one). Machine texts come from
JSONL files written by the researcher / reviewer stages (``detect.machine_files``); when none
are given they are generated with the configured model by continuing the first
``prefix_tokens`` tokens of every human text (the DetectGPT evaluation protocol). The
threshold is calibrated per format on held-out human texts at ``detector.target_fpr``.

Artifacts under the run dir: ``machine_texts.jsonl`` (generated), ``scores.jsonl`` (one row
per text), ``calibration.json``, ``metrics.json``, ``report.md``, ``roc.png``,
``rejected.jsonl``. A rerun reuses generated texts and scores already registered.
"""

from __future__ import annotations

from typing import Any

from cycle.core.io import file_stem
from cycle.core.runs import Run
from cycle.integrity.collection import human_texts, machine_texts
from cycle.integrity.configs import model_name
from cycle.integrity.disclosure import DisclosureReport, check_disclosure_files
from cycle.integrity.evaluation import evaluate_by_format
from cycle.integrity.report import Findings, length_note, stage_metrics, write_outputs
from cycle.integrity.schemas import DetectConfig
from cycle.integrity.scoring import score_texts
from cycle.integrity.texts import Row
from cycle.integrity.thresholds import apply_thresholds, calibrate_thresholds
from cycle.integrity.watermark import WatermarkConfig
from cycle.integrity.watermark_report import watermark_summary


def detect(cfg: DetectConfig, run: Run) -> dict[str, Any]:
    """Collect texts, score them, calibrate thresholds, evaluate, check the watermark and the
    disclosure, write the outputs; returns the headline metrics."""
    d = cfg.detect
    det, wm = cfg.detector, cfg.watermark
    human, rejects = human_texts(d)
    if not human:
        raise ValueError("no human texts: set detect.human_files or detect.human_corpus")
    machine, bad, notes = machine_texts(cfg, run, human, wm)
    rejects += bad
    scored, bad = score_texts(cfg, run, det, wm, human + machine)
    rejects += bad

    calibrations, eval_human, more = calibrate_thresholds(
        scored, det, model_name(cfg.model), cfg.seed
    )
    notes += more
    apply_thresholds(scored, calibrations)
    notes.append(length_note(scored))

    eval_rows, plain_ids = _evaluation_rows(scored, eval_human, wm)
    results = evaluate_by_format(eval_rows, calibrations, det.n_boot, cfg.seed)
    extra: dict[str, Any] = {}
    if wm.enabled:
        extra, more = watermark_summary(
            scored, eval_rows, calibrations, plain_ids, det.n_boot, cfg.seed, wm
        )
        notes += more
    disclosure = None
    if d.disclosure_files:
        disclosure, bad = _check_disclosure(d.disclosure_files, machine)
        rejects += bad
        extra["disclosure"] = disclosure.to_dict()

    found = Findings(scored, calibrations, results, extra, disclosure, notes, rejects)
    write_outputs(run, cfg, det, found)
    return stage_metrics(found)


def _evaluation_rows(
    scored: list[Row], eval_human: list[Row], wm: WatermarkConfig
) -> tuple[list[Row], set[str]]:
    """The rows the table evaluates (human texts not used to calibrate, machine texts but the
    unwatermarked ones generated for comparison) and the ids of those unwatermarked ones."""
    eval_ids = {r["id"] for r in eval_human}
    plain_ids = {
        r["id"] for r in scored if r["label"] == 1 and wm.enabled and not r.get("watermarked", True)
    }
    eval_rows = [
        r
        for r in scored
        if (r["label"] == 0 and r["id"] in eval_ids)
        or (r["label"] == 1 and r["id"] not in plain_ids)
    ]
    return eval_rows, plain_ids


def _check_disclosure(
    patterns: list[str], machine: list[Row]
) -> tuple[DisclosureReport, list[Row]]:
    """The disclosure check of the exported papers, simulated ones (as the machine rows say)
    required to declare it."""
    simulated = {file_stem(r["id"]): bool(r["simulated"]) for r in machine if "simulated" in r}
    return check_disclosure_files(patterns, simulated)
