"""Scoring the detect stage's texts with Fast-DetectGPT (and the watermark detector when on)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from cycle.core.io import read_jsonl
from cycle.core.runs import Run
from cycle.core.schemas import ModelConfig
from cycle.integrity.configs import model_name
from cycle.integrity.schemas import DetectConfig, DetectorConfig
from cycle.integrity.texts import Row
from cycle.integrity.watermark import WatermarkConfig, WatermarkDetector

__all__ = ["score_texts"]


def score_texts(
    cfg: DetectConfig, run: Run, det: DetectorConfig, wm: WatermarkConfig, texts: list[Row]
) -> tuple[list[Row], list[Row]]:
    """Each text with its criterion (scores already in the run are reused), and the rows
    rejected because no token could be scored."""
    if run.has("scores"):
        scored = read_jsonl(run.dir / "scores.jsonl")
    else:
        detector = _build_detector(cfg, det)
        scores = detector.score([r["text"] for r in texts])
        scored = [{**r, **s.to_row()} for r, s in zip(texts, scores, strict=True)]
        if wm.enabled:
            _watermark_rows(scored, detector.tokenizer, wm)
    rejects = [
        {"source": r.get("source", ""), "id": r["id"], "reason": "no scorable tokens"}
        for r in scored
        if not math.isfinite(r["criterion"])
    ]
    return [r for r in scored if math.isfinite(r["criterion"])], rejects


def _build_detector(cfg: DetectConfig, det: DetectorConfig) -> Any:
    import torch

    from cycle.core.models import load_causal_lm
    from cycle.integrity.detector import FastDetectGPT

    device = "cuda" if torch.cuda.is_available() else "cpu"

    def load(mc: ModelConfig) -> tuple[Any, Any]:
        if det.dtype != "auto":
            mc = dataclasses.replace(mc, dtype=det.dtype)
        elif device == "cuda":
            mc = dataclasses.replace(mc, dtype="bfloat16")
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
        name=model_name(cfg.model),
    )


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
