"""The detect stage's outputs: the artifacts under the run dir (scores, calibration, metrics,
report, ROC plot, rejects) and the metrics the stage returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cycle.core.io import atomic_write_json, atomic_write_jsonl, atomic_write_text
from cycle.core.runs import Run
from cycle.integrity.calibration import Calibration
from cycle.integrity.configs import model_name
from cycle.integrity.disclosure import DisclosureReport, disclosure_markdown
from cycle.integrity.evaluation import FormatResult, finite_mean, plot_roc, table6_markdown
from cycle.integrity.schemas import DetectConfig, DetectorConfig
from cycle.integrity.texts import FORMATS, Row
from cycle.integrity.watermark_report import watermark_markdown

__all__ = ["Findings", "length_note", "stage_metrics", "write_outputs"]


@dataclass
class Findings:
    """What the detect stage found, as its outputs are written from it."""

    scored: list[Row]
    calibrations: dict[str, Calibration]
    results: list[FormatResult]
    extra: dict[str, Any]  # metrics.json beyond the formats: watermark summary, disclosure
    disclosure: DisclosureReport | None
    notes: list[str]
    rejects: list[Row]


def length_note(scored: list[Row]) -> str:
    """Mean scored tokens per format and label (the criterion depends on length)."""
    lengths = [
        f"{fmt} {kind} {finite_mean([r['n_tokens'] for r in scored if r['format'] == fmt and r['label'] == lab]):.0f}"
        for fmt in FORMATS
        for lab, kind in ((0, "human"), (1, "machine"))
        if any(r["format"] == fmt and r["label"] == lab for r in scored)
    ]
    return (
        "mean scored tokens: "
        + ", ".join(lengths)
        + " (the criterion grows like sqrt(length): compare like with like)"
    )


def write_outputs(run: Run, cfg: DetectConfig, det: DetectorConfig, found: Findings) -> None:
    """Writes and registers the stage's artifacts, and logs the rejects by reason."""
    name = model_name(cfg.model)
    atomic_write_jsonl(run.path("scores.jsonl"), found.scored)
    if not run.has("scores"):
        run.add_artifact("scores", run.dir / "scores.jsonl")
    cal_path = atomic_write_json(
        run.path("calibration.json"), {f: c.to_dict() for f, c in found.calibrations.items()}
    )
    run.add_artifact("calibration", cal_path)
    metrics = {"formats": [r.to_dict() for r in found.results], **found.extra}
    run.add_artifact("metrics", atomic_write_json(run.path("metrics.json"), metrics))
    window_note = (
        f"scoring model {name} "
        + (
            f"with reference {model_name(det.reference_model)}"
            if det.reference_model
            else "(white-box)"
        )
        + f"; whole texts in windows of {det.window} tokens ({det.context} tokens of carried context)"
        + (f", at most {det.max_tokens} tokens per text" if det.max_tokens else "")
    )
    report = table6_markdown(
        found.results,
        "Fast-DetectGPT detection (paper Table 6 layout)",
        [window_note, *found.notes],
    )
    if "watermark" in found.extra:
        report += watermark_markdown(found.extra)
    if found.disclosure is not None:
        report += disclosure_markdown(found.disclosure)
    run.add_artifact("report", atomic_write_text(run.path("report.md"), report))
    run.add_artifact("roc", plot_roc(found.results, run.path("roc.png"), f"Fast-DetectGPT, {name}"))
    run.reject_rows(found.rejects)


def stage_metrics(found: Findings) -> dict[str, Any]:
    """The metrics the stage returns: text counts, headline detection metrics per format,
    disclosure counts and the watermark's effect on the criterion."""
    n_human = sum(r["label"] == 0 for r in found.scored)
    out: dict[str, Any] = {"n_human": n_human, "n_machine": len(found.scored) - n_human}
    for r in found.results:
        for k in ("auroc", "accuracy", "f1", "tpr_at_1fpr"):
            out[f"{r.format}/{k}"] = r.metrics[k]
    if found.disclosure is not None:
        out["disclosure/checked"] = found.disclosure.n_checked
        out["disclosure/missing"] = len(found.disclosure.missing)
        out["disclosure/missing_simulated"] = len(found.disclosure.missing_simulated)
    if "criterion_effect" in found.extra:
        out["watermark/criterion_mean_delta"] = found.extra["criterion_effect"]["mean_delta"]
    return out
