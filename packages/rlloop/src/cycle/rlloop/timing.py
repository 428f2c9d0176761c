"""Where a step's time goes: its phases (wall time, what was generated, graphs compiled), kept in
this process for ``steps/<step>.timing.json`` and logged as ``rlloop timing:`` lines."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_PHASES: list[dict[str, Any]] = []  # the phases of the step running in this process
_STEP = [""]  # its name for the log ("round 0 sample")


def timing_file(step_dir: Path, step: str) -> Path:
    """The step's phases with their times (apart from the marker, whose content the round's
    ``metrics.json`` repeats and a resumed run must reproduce exactly)."""
    return step_dir / "steps" / f"{step}.timing.json"


def start_step(name: str) -> None:
    """Record the phases of the step ``name`` (``round 0 sample``) from now on."""
    _PHASES.clear()
    _STEP[0] = name


def recorded_phases() -> list[dict[str, Any]]:
    """The phases recorded since ``start_step``, in the order they ended."""
    return list(_PHASES)


def _work_counters() -> dict[str, float]:
    """This process's generation totals and torch.compile's compiled-graph count so far."""
    from cycle.core.generation.base import GENERATION_STATS

    counts = {k: float(v) for k, v in GENERATION_STATS.items()}
    dynamo = sys.modules.get("torch._dynamo.utils")  # read only when something compiled
    if dynamo is not None:
        counts["compiled_graphs"] = float(dynamo.counters["stats"]["unique_graphs"])
    return counts


@contextlib.contextmanager
def timed(phase: str) -> Iterator[None]:
    """Record ``phase``'s wall time, what it generated (sequences, new tokens, decode steps,
    rows cut at max_new_tokens, seconds inside ``generate``) and the graphs torch.compile
    compiled during it."""
    log.info("rlloop timing: %s: %s started", _STEP[0], phase)  # a cut run names its last phase
    before, start = _work_counters(), time.perf_counter()
    try:
        yield
    finally:
        after = _work_counters()
        row: dict[str, Any] = {"phase": phase, "seconds": round(time.perf_counter() - start, 2)}
        for key, value in after.items():
            if delta := value - before.get(key, 0.0):
                row[key] = round(delta, 2) if key.endswith("_s") else int(delta)
        _PHASES.append(row)
        # logged as each phase ends: a run cut short still shows where its time went
        log.info("rlloop timing: %s: %s", _STEP[0], describe_phase(row))


def describe_phase(row: dict[str, Any]) -> str:
    """One line: ``write_papers 41.2 s; 16 sequences, 5120 new tokens, 512 decode steps ...``."""
    text = f"{row['phase']} {row['seconds']} s"
    if row.get("sequences"):
        text += (
            f"; {row['sequences']} sequences, {row.get('new_tokens', 0)} new tokens, "
            f"{row.get('decode_steps', 0)} decode steps in {row.get('calls', 0)} generate calls "
            f"({row.get('generate_s', 0)} s), {row.get('at_length', 0)} cut at max_new_tokens"
        )
    if row.get("compiled_graphs"):
        text += f"; {row['compiled_graphs']} graphs compiled"
    return text
