"""``cycle train_lm``: SFT of any causal LM on chat conversations from JSONL files.

Each line holds ``{"messages": [{"role": ..., "content": ...}, ...]}``; the loss is on the
assistant turns. The reviewer and researcher stages specialise this with their own data.
"""

from __future__ import annotations

from typing import Any

from cycle.core.io import read_jsonl
from cycle.core.runs import Run
from cycle.core.schemas import TrainLMConfig
from cycle.core.tracking import stage_logger
from cycle.core.training.fit import fit_spec
from cycle.core.training.sft import fit_sft


def train_lm(cfg: TrainLMConfig, run: Run) -> dict[str, Any]:
    conversations, rejected = [], []
    for path in cfg.data_files:
        for i, row in enumerate(read_jsonl(path)):
            messages = row.get("messages") if isinstance(row, dict) else None
            if not messages:
                rejected.append({"file": str(path), "record": i, "reason": "no messages"})
                continue
            conversations.append(messages)
    run.reject_rows(rejected, reason="no messages")
    export_dir = run.path("model") if cfg.export else None
    logger = stage_logger(cfg, run.dir)
    return fit_sft(fit_spec(cfg), cfg.sft, run, conversations, logger, export_dir=export_dir)
