"""The detect stage's texts: human texts from files or a corpus, machine texts from files or
generated as continuations of the human prefixes (the DetectGPT evaluation protocol)."""

from __future__ import annotations

import dataclasses

from cycle.core.io import atomic_write_jsonl, read_jsonl
from cycle.core.runs import Run
from cycle.integrity.configs import model_name
from cycle.integrity.schemas import DetectConfig, DetectSettings
from cycle.integrity.texts import FORMATS, Row, corpus_texts, read_text_files
from cycle.integrity.watermark import WatermarkConfig, generator_hooks

__all__ = ["human_texts", "machine_texts"]


def human_texts(d: DetectSettings) -> tuple[list[Row], list[Row]]:
    """Human rows (at most ``max_texts_per_format`` per format) and the rows rejected."""
    rows, rejects = read_text_files(d.human_files, label=0, default_format=d.human_format)
    if d.human_corpus:
        more, bad = corpus_texts(None if d.human_corpus == "sample" else d.human_corpus)
        rows, rejects = rows + more, rejects + bad
    return _cap(rows, d.max_texts_per_format), rejects


def _cap(rows: list[Row], limit: int | None) -> list[Row]:
    if limit is None:
        return rows
    out: list[Row] = []
    for fmt in FORMATS:
        out += [r for r in rows if r["format"] == fmt][:limit]
    return out


def machine_texts(
    cfg: DetectConfig, run: Run, human: list[Row], wm: WatermarkConfig
) -> tuple[list[Row], list[Row], list[str]]:
    """Machine rows, the rows rejected and a note on where they came from: the given files,
    else continuations of the human prefixes (generated once, then reused from the run)."""
    d = cfg.detect
    machine, rejects = read_text_files(d.machine_files, label=1)
    if machine:
        note = f"machine texts: {len(machine)} rows from {', '.join(map(str, d.machine_files))}"
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
        note = (
            f"machine texts: the DetectGPT protocol: the first {d.prefix_tokens} tokens of every human text "
            f"continued by {model_name(cfg.model)} (sampling T={cfg.sampling.temperature}, "
            f"top_p={cfg.sampling.top_p}), each continuation cut to its human text's remaining length"
            + ("; watermarked with the KGW green list" if wm.enabled else "")
        )
    else:
        raise ValueError(
            "no machine texts: set detect.machine_files or detect.generate_machine=true"
        )
    return machine, rejects, [note]


def _continuations(
    cfg: DetectConfig, human: list[Row], watermark: WatermarkConfig, tag: str
) -> list[Row]:
    """Machine texts: each human text's first ``prefix_tokens`` tokens continued by the model,
    the continuation cut to the human text's remaining length (so lengths roughly match)."""
    from cycle.core.generation import build_generator

    d = cfg.detect
    processors, extra_args = generator_hooks(watermark, cfg.backend.name)
    generator = build_generator(
        cfg.backend, cfg.model, processors, extra_args=extra_args, progress=False
    )
    tok = generator.tokenizer
    sampling = dataclasses.replace(
        cfg.sampling, max_new_tokens=d.max_new_tokens or cfg.sampling.max_new_tokens, stop=[]
    )
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
                "source": f"continuation:{model_name(cfg.model)}:{tag}",
                "watermarked": watermark.enabled,
            }
        )
    del generator
    return rows
