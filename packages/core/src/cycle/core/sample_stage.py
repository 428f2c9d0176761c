"""``cycle sample prompts_file=...``: completions for prompts from a JSONL file, with any backend.

Each input line holds ``{"id": ..., "prompt": str | [messages]}``. Outputs are appended to
``samples.jsonl`` one prompt at a time, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tqdm import tqdm

from cycle.core.chat import is_chat
from cycle.core.generation import build_generator
from cycle.core.io import append_jsonl, read_jsonl
from cycle.core.runs import Run
from cycle.core.schemas import SampleConfig


def _valid(row: Any) -> str | None:
    """The reason a prompt row is unusable, or None."""
    if not isinstance(row, dict) or "prompt" not in row:
        return "no 'prompt' field"
    prompt = row["prompt"]
    if not (isinstance(prompt, str) and prompt) and not (
        isinstance(prompt, list) and prompt and is_chat(prompt)
    ):
        return "prompt is neither a non-empty string nor a list of {role, content} messages"
    return None


def sample(cfg: SampleConfig, run: Run) -> dict[str, Any]:
    rows = read_jsonl(cfg.prompts_file)
    out_path = run.path("samples.jsonl")
    done = {r["id"] for r in read_jsonl(out_path)} if out_path.exists() else set()
    todo, rejected = [], []
    for i, row in enumerate(rows):
        if reason := _valid(row):
            rejected.append({"line": i + 1, "reason": reason, "row": row})
            continue
        row.setdefault("id", str(i))
        if row["id"] not in done:
            todo.append(row)
    run.reject_rows(rejected)
    generator = build_generator(cfg.backend, cfg.model, progress=False)
    batch = cfg.backend.batch_size
    for start in tqdm(range(0, len(todo), batch), desc="sample", unit="batch"):
        chunk = todo[start : start + batch]
        outputs = generator.generate([r["prompt"] for r in chunk], cfg.sampling)
        for row, completions in zip(chunk, outputs, strict=True):
            append_jsonl(
                out_path,
                {"id": row["id"], "completions": [dataclasses.asdict(c) for c in completions]},
            )
    run.add_artifact("samples", out_path)
    return {
        "prompts": len(rows),
        "sampled_now": len(todo),
        "resumed": len(done),
        "rejected": len(rejected),
    }
