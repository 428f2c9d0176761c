"""The detect stage's watermark check: detection rates of the KGW watermark on human,
watermarked and plain machine texts, and how the watermark moves the Fast-DetectGPT criterion."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cycle.integrity.calibration import Calibration
from cycle.integrity.evaluation import evaluate_by_format, finite_mean
from cycle.integrity.texts import Row
from cycle.integrity.watermark import WatermarkConfig

__all__ = ["watermark_markdown", "watermark_summary"]


def watermark_summary(
    scored: list[Row],
    eval_rows: list[Row],
    calibrations: dict[str, Calibration],
    plain_ids: set[str],
    n_boot: int,
    seed: int,
    wm: WatermarkConfig,
) -> tuple[dict[str, Any], list[str]]:
    """Watermark detection rates, and how the watermark moves the Fast-DetectGPT criterion
    (when unwatermarked continuations were generated too); with notes for the report."""

    def rate(rows: list[Row]) -> dict[str, float]:
        zs = [r["watermark"]["z_score"] for r in rows if "watermark" in r]
        return {
            "n": len(zs),
            "mean_z": finite_mean(zs),
            "flagged": float(np.mean([z > wm.z_threshold for z in zs])) if zs else float("nan"),
        }

    human = [r for r in scored if r["label"] == 0]
    marked = [r for r in scored if r["label"] == 1 and r["id"] not in plain_ids]
    plain = [r for r in scored if r["id"] in plain_ids]
    summary: dict[str, Any] = {
        "watermark": {
            "config": {k: v for k, v in dataclasses.asdict(wm).items() if k != "key"},
            "human": rate(human),
            "machine_watermarked": rate(marked),
            "machine_plain": rate(plain),
        }
    }
    notes: list[str] = []
    if plain:
        eval_human = [r for r in eval_rows if r["label"] == 0]
        without = evaluate_by_format(eval_human + plain, calibrations, n_boot, seed)
        with_wm = evaluate_by_format(eval_human + marked, calibrations, n_boot, seed)
        summary["criterion_effect"] = {
            "mean_criterion_watermarked": finite_mean([r["criterion"] for r in marked]),
            "mean_criterion_plain": finite_mean([r["criterion"] for r in plain]),
            "mean_delta": finite_mean([r["criterion"] for r in marked])
            - finite_mean([r["criterion"] for r in plain]),
            "auroc_watermarked": {r.format: r.metrics["auroc"] for r in with_wm},
            "auroc_plain": {r.format: r.metrics["auroc"] for r in without},
        }
        notes.append(
            "the table evaluates the watermarked continuations; unwatermarked ones (same prompts and seed) are compared below"
        )
    return summary, notes


def watermark_markdown(extra: dict[str, Any]) -> str:
    """The report's watermark section, from the summary in ``extra``."""
    w = extra["watermark"]
    c = w["config"]
    lines = [
        "",
        f"## Watermark (KGW green list: gamma={c['gamma']}, delta={c['delta']}, context width={c['context_width']})",
        "",
        f"| Texts | n | mean z | flagged (z > {c['z_threshold']}) |",
        "|---|---|---|---|",
    ]
    for name, key in (
        ("human", "human"),
        ("machine, watermarked", "machine_watermarked"),
        ("machine, no watermark", "machine_plain"),
    ):
        s = w[key]
        if s["n"]:
            lines.append(f"| {name} | {s['n']} | {s['mean_z']:.2f} | {s['flagged']:.2%} |")
    if "criterion_effect" in extra:
        e = extra["criterion_effect"]
        lines += [
            "",
            f"Effect on the Fast-DetectGPT criterion: mean {e['mean_criterion_plain']:.3f} without the watermark, "
            f"{e['mean_criterion_watermarked']:.3f} with it (delta {e['mean_delta']:+.3f}); AUROC without "
            f"{_fmt(e['auroc_plain'])}, with {_fmt(e['auroc_watermarked'])}.",
        ]
    return "\n".join(lines) + "\n"


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())
