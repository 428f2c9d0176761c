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

import dataclasses
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from cycle.core.io import (
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    file_stem,
    read_jsonl,
)
from cycle.core.runs import Run
from cycle.integrity.calibration import Calibration, calibrate, windowing
from cycle.integrity.disclosure import DisclosureReport, check_disclosure_files
from cycle.integrity.evaluation import FormatResult, evaluate_format, plot_roc, table6_markdown
from cycle.integrity.schemas import DetectorConfig
from cycle.integrity.texts import FORMATS, Row, corpus_texts, read_text_files
from cycle.integrity.watermark import WatermarkConfig, WatermarkDetector, generator_hooks

log = logging.getLogger(__name__)


def _structured(node: Any, cls: type) -> Any:
    """A dataclass from a config node, its interpolations resolved in the full config first."""
    data = (
        OmegaConf.to_container(node, resolve=True)
        if isinstance(node, DictConfig)
        else dict(node or {})
    )
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls), data))


def _model_name(model_cfg: Any) -> str:
    return str(model_cfg.get("name_or_path") or model_cfg.get("name"))


def _human_texts(d: DictConfig) -> tuple[list[Row], list[Row]]:
    rows, rejects = read_text_files(
        list(d.human_files), label=0, default_format=d.get("human_format")
    )
    if d.human_corpus:
        more, bad = corpus_texts(None if d.human_corpus == "sample" else str(d.human_corpus))
        rows, rejects = rows + more, rejects + bad
    return rows, rejects


def _cap(rows: list[Row], limit: int | None) -> list[Row]:
    if limit is None:
        return rows
    out: list[Row] = []
    for fmt in FORMATS:
        out += [r for r in rows if r["format"] == fmt][:limit]
    return out


def _continuations(
    cfg: DictConfig, human: list[Row], watermark: WatermarkConfig, tag: str
) -> list[Row]:
    """Machine texts: each human text's first ``prefix_tokens`` tokens continued by the model,
    the continuation cut to the human text's remaining length (so lengths roughly match)."""
    from cycle.core.generation import build_generator
    from cycle.core.schemas import SamplingConfig

    d = cfg.detect
    processors, extra_args = generator_hooks(watermark, cfg.backend.name)
    generator = build_generator(
        cfg.backend, cfg.model, processors, extra_args=extra_args, progress=False
    )
    tok = generator.tokenizer
    sampling = _structured(cfg.sampling, SamplingConfig)
    sampling.max_new_tokens = int(d.max_new_tokens or sampling.max_new_tokens)
    sampling.stop = []
    ids = [tok(r["text"], add_special_tokens=False)["input_ids"] for r in human]
    keep = [i for i, x in enumerate(ids) if len(x) > d.prefix_tokens]
    prompts = [tok.decode(ids[i][: d.prefix_tokens]) for i in keep]
    outputs = generator.generate(prompts, sampling, n=1) if prompts else []
    rows = []
    for i, prompt, (completion,) in zip(keep, prompts, outputs, strict=True):
        cont_ids = completion.token_ids[: len(ids[i]) - d.prefix_tokens]
        cont = tok.decode(cont_ids, skip_special_tokens=True)
        h = human[i]
        rows.append(
            {
                "id": f"{h['id']}:{tag}",
                "format": h["format"],
                "label": 1,
                "text": prompt + cont,
                "prompt": prompt,
                "continuation": cont,
                "source": f"continuation:{_model_name(cfg.model)}:{tag}",
                "watermarked": watermark.enabled,
            }
        )
    del generator
    return rows


def _build_detector(cfg: DictConfig, det: DetectorConfig) -> Any:
    import torch

    from cycle.core.models import as_model_config, load_causal_lm
    from cycle.integrity.detector import FastDetectGPT

    device = "cuda" if torch.cuda.is_available() else "cpu"

    def load(model_node: Any) -> tuple[Any, Any]:
        mc = as_model_config(model_node)
        if det.dtype != "auto":
            mc.dtype = det.dtype
        elif device == "cuda":
            mc.dtype = "bfloat16"
        model, tok = load_causal_lm(mc)
        return model.to(device).eval(), tok

    model, tok = load(cfg.model)
    ref_model = ref_tok = None
    if det.reference_model is not None:
        ref_model, ref_tok = load(det.reference_model)
    return FastDetectGPT(
        model,
        tok,
        reference_model=ref_model,
        reference_tokenizer=ref_tok,
        window=det.window,
        context=det.context,
        max_tokens=det.max_tokens,
        batch_size=det.batch_size,
        logits_chunk=det.logits_chunk,
        name=_model_name(cfg.model),
    )


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


def _watermark_rows(rows: list[Row], tokenizer: Any, wm: WatermarkConfig) -> None:
    """Adds watermark z / p / green fraction to each row (the continuation only, for generated text)."""
    detector = WatermarkDetector(wm, vocab_size=len(tokenizer))
    for r in rows:
        text = r.get("continuation") if r.get("continuation") is not None else r["text"]
        prefix = (
            tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] if r.get("prompt") else []
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        res = detector.detect(ids, prefix_ids=prefix)
        r["watermark"] = res.to_row()


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def detect(cfg: DictConfig, run: Run) -> dict[str, Any]:
    d = cfg.detect
    det = _structured(cfg.detector, DetectorConfig)
    wm = _structured(cfg.watermark, WatermarkConfig)
    notes: list[str] = []
    human, rejects = _human_texts(d)
    human = _cap(human, d.max_texts_per_format)
    if not human:
        raise ValueError("no human texts: set detect.human_files or detect.human_corpus")

    # Machine texts: given files, else continuations of the human prefixes (resumable artifact).
    machine, bad = read_text_files(list(d.machine_files), label=1)
    rejects += bad
    if machine:
        notes.append(
            f"machine texts: {len(machine)} rows from {', '.join(map(str, d.machine_files))}"
        )
    elif d.generate_machine:
        if not run.has("machine_texts"):
            generated = _continuations(cfg, human, wm, "wm" if wm.enabled else "gen")
            if wm.enabled and d.watermark_effect:
                generated += _continuations(
                    cfg, human, dataclasses.replace(wm, enabled=False), "gen"
                )
            run.add_artifact(
                "machine_texts", atomic_write_jsonl(run.path("machine_texts.jsonl"), generated)
            )
        machine = read_jsonl(run.dir / "machine_texts.jsonl")
        notes.append(
            f"machine texts: the DetectGPT protocol: the first {d.prefix_tokens} tokens of every human text "
            f"continued by {_model_name(cfg.model)} (sampling T={cfg.sampling.temperature}, "
            f"top_p={cfg.sampling.top_p}), each continuation cut to its human text's remaining length"
            + ("; watermarked with the KGW green list" if wm.enabled else "")
        )
    else:
        raise ValueError(
            "no machine texts: set detect.machine_files or detect.generate_machine=true"
        )

    # Score every text (resumable artifact).
    texts = human + machine
    detector = None
    if run.has("scores"):
        scored = read_jsonl(run.dir / "scores.jsonl")
    else:
        detector = _build_detector(cfg, det)
        scores = detector.score([r["text"] for r in texts])
        scored = [{**r, **s.to_row()} for r, s in zip(texts, scores, strict=True)]
        if wm.enabled:
            _watermark_rows(scored, detector.tokenizer, wm)
    for r in scored:
        if not math.isfinite(r["criterion"]):
            rejects.append(
                {"source": r.get("source", ""), "id": r["id"], "reason": "no scorable tokens"}
            )
    scored = [r for r in scored if math.isfinite(r["criterion"])]

    # Calibrate per format on held-out human texts (or load a saved calibration).
    model_name = _model_name(cfg.model)
    scoring = windowing(det.window, det.context, det.max_tokens, scored[0].get("first_token"))
    if det.calibration_file:
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
        calibrations, eval_human = saved, [r for r in scored if r["label"] == 0]
        notes.append(f"threshold from {det.calibration_file}")
    else:
        calib_rows, eval_human, split_notes = _split_for_calibration(scored, det, int(cfg.seed))
        notes += split_notes
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
    for r in scored:
        cal = calibrations.get(r["format"])
        r["threshold"] = cal.threshold_for(r["n_tokens"]) if cal else float("nan")
        r["predicted_machine"] = bool(cal and r["criterion"] > r["threshold"])
        r["probability"] = cal.probability(r["criterion"]) if cal else float("nan")

    lengths = [
        f"{fmt} {kind} {_mean([r['n_tokens'] for r in scored if r['format'] == fmt and r['label'] == lab]):.0f}"
        for fmt in FORMATS
        for lab, kind in ((0, "human"), (1, "machine"))
        if any(r["format"] == fmt and r["label"] == lab for r in scored)
    ]
    notes.append(
        "mean scored tokens: "
        + ", ".join(lengths)
        + " (the criterion grows like sqrt(length): compare like with like)"
    )
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
    results = _evaluate(eval_rows, calibrations, det, int(cfg.seed))
    extra: dict[str, Any] = {}
    if wm.enabled:
        extra = _watermark_summary(
            scored, eval_rows, calibrations, plain_ids, det, int(cfg.seed), wm, notes
        )
    disclosure = None
    if d.get("disclosure_files"):
        simulated = {file_stem(r["id"]): bool(r["simulated"]) for r in machine if "simulated" in r}
        disclosure, bad = check_disclosure_files(list(d.disclosure_files), simulated)
        rejects += bad
        extra["disclosure"] = disclosure.to_dict()

    atomic_write_jsonl(run.path("scores.jsonl"), scored)
    if not run.has("scores"):
        run.add_artifact("scores", run.dir / "scores.jsonl")
    cal_path = atomic_write_json(
        run.path("calibration.json"), {f: c.to_dict() for f, c in calibrations.items()}
    )
    run.add_artifact("calibration", cal_path)
    metrics = {"formats": [r.to_dict() for r in results], **extra}
    run.add_artifact("metrics", atomic_write_json(run.path("metrics.json"), metrics))
    window_note = (
        f"scoring model {model_name} "
        + (
            f"with reference {_model_name(cfg.detector.reference_model)}"
            if det.reference_model
            else "(white-box)"
        )
        + f"; whole texts in windows of {det.window} tokens ({det.context} tokens of carried context)"
        + (f", at most {det.max_tokens} tokens per text" if det.max_tokens else "")
    )
    report = table6_markdown(
        results, "Fast-DetectGPT detection (paper Table 6 layout)", [window_note, *notes]
    )
    if wm.enabled:
        report += _watermark_markdown(extra)
    if disclosure is not None:
        report += _disclosure_markdown(disclosure)
    run.add_artifact("report", atomic_write_text(run.path("report.md"), report))
    run.add_artifact("roc", plot_roc(results, run.path("roc.png"), f"Fast-DetectGPT, {model_name}"))
    atomic_write_jsonl(run.path("rejected.jsonl"), rejects)
    run.add_artifact("rejected", run.dir / "rejected.jsonl")
    for reason in {r["reason"] for r in rejects}:
        run.log_rejected(reason, sum(r["reason"] == reason for r in rejects))

    out: dict[str, Any] = {
        "n_human": sum(r["label"] == 0 for r in scored),
        "n_machine": len(scored) - sum(r["label"] == 0 for r in scored),
    }
    for r in results:
        for k in ("auroc", "accuracy", "f1", "tpr_at_1fpr"):
            out[f"{r.format}/{k}"] = r.metrics[k]
    if disclosure is not None:
        out["disclosure/checked"] = disclosure.n_checked
        out["disclosure/missing"] = len(disclosure.missing)
        out["disclosure/missing_simulated"] = len(disclosure.missing_simulated)
    if "criterion_effect" in extra:
        out["watermark/criterion_mean_delta"] = extra["criterion_effect"]["mean_delta"]
    return out


def _evaluate(
    rows: list[Row], calibrations: dict[str, Calibration], det: DetectorConfig, seed: int
) -> list[FormatResult]:
    results = []
    groups = [
        (fmt, [r for r in rows if r["format"] == fmt]) for fmt in FORMATS if fmt in calibrations
    ]
    if len(groups) > 1:
        groups.append(("all", [r for r in rows if r["format"] in calibrations]))
    for name, group in groups:
        if not group:
            continue
        results.append(
            evaluate_format(
                name,
                [r["label"] for r in group],
                [r["criterion"] for r in group],
                [r["threshold"] for r in group],
                n_boot=det.n_boot,
                seed=seed,
            )
        )
    return results


def _watermark_summary(
    scored: list[Row],
    eval_rows: list[Row],
    calibrations: dict[str, Calibration],
    plain_ids: set[str],
    det: DetectorConfig,
    seed: int,
    wm: WatermarkConfig,
    notes: list[str],
) -> dict[str, Any]:
    """Watermark detection rates, and how the watermark moves the Fast-DetectGPT criterion."""

    def rate(rows: list[Row]) -> dict[str, float]:
        zs = [r["watermark"]["z_score"] for r in rows if "watermark" in r]
        return {
            "n": len(zs),
            "mean_z": _mean(zs),
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
    if plain:
        eval_human = [r for r in eval_rows if r["label"] == 0]
        without = _evaluate(eval_human + plain, calibrations, det, seed)
        with_wm = _evaluate(eval_human + marked, calibrations, det, seed)
        summary["criterion_effect"] = {
            "mean_criterion_watermarked": _mean([r["criterion"] for r in marked]),
            "mean_criterion_plain": _mean([r["criterion"] for r in plain]),
            "mean_delta": _mean([r["criterion"] for r in marked])
            - _mean([r["criterion"] for r in plain]),
            "auroc_watermarked": {r.format: r.metrics["auroc"] for r in with_wm},
            "auroc_plain": {r.format: r.metrics["auroc"] for r in without},
        }
        notes.append(
            "the table evaluates the watermarked continuations; unwatermarked ones (same prompts and seed) are compared below"
        )
    return summary


def _watermark_markdown(extra: dict[str, Any]) -> str:
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


def _disclosure_markdown(report: DisclosureReport) -> str:
    lines = [
        "",
        "## AI-generation disclosure",
        "",
        f"{report.n_checked} exported papers checked: "
        f"{report.n_checked - len(report.missing) - len(report.missing_simulated)} carry the statement "
        "(and, where the results were simulated, say so).",
    ]
    for title, ids in (
        ("No disclosure statement", report.missing),
        ("Simulated results not declared", report.missing_simulated),
    ):
        if ids:
            lines += ["", f"{title}:", "", *(f"- `{i}`" for i in ids)]
    return "\n".join(lines) + "\n"


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in d.items())
