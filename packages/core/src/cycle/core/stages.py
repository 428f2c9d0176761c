"""The stage registry: packages register ``name = "module:function"`` under ``cycle.stages``.

A stage function has the signature ``fn(cfg: <its schema>, run: Run) -> dict | None``: its
primary config is ``conf/<name>.yaml``, its schema (a ``StageConfig`` subclass registered with
``register_stage``) the typed object it is called with, and what it returns goes into the run's
manifest.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from cycle.core.config import stage_config
from cycle.core.distributed import rank_label
from cycle.core.errors import ConfigError
from cycle.core.preflight import preflight
from cycle.core.runs import Run, mark_failed, seed_everything
from cycle.core.upstream import check_upstream

log = logging.getLogger(__name__)

STAGE_GROUP = "cycle.stages"
StageFn = Callable[[Any, Run], "dict[str, Any] | None"]


def discover_stages() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in sorted(entry_points(group=STAGE_GROUP), key=lambda e: e.name)}


def load_stage(name: str) -> StageFn:
    stages = discover_stages()
    if name not in stages:
        raise KeyError(f"unknown stage '{name}'; installed stages: {', '.join(stages) or 'none'}")
    return stages[name].load()


def execute(stage: str, cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Open the run directory, seed, run the stage, record its metrics.

    With ``resume`` set, a run directory that already completed this exact config, and whose
    artifacts still match their recorded hashes, is not run again: its recorded metrics are
    returned. The run directory is locked while the stage runs.
    """
    fn = load_stage(stage)
    typed = stage_config(stage, cfg)  # the one conversion: strict, resolved once
    preflight(typed)  # choices and hardware, before any run directory, data or model
    run = Run.open(run_dir, stage, dataclasses.asdict(typed))
    try:
        try:
            check_upstream(run.config)  # an input edited since its run recorded it
        except ConfigError as err:
            mark_failed(run, err)
            raise
        if typed.resume and run.complete:
            broken = run.broken_artifacts()
            if not broken:
                log.info(
                    "%s: already complete in %s, skipping (resume=false reruns it)", stage, run.dir
                )
                return dict(run.metrics)
            log.warning("%s: %s changed since the run completed: running it again", stage, broken)
        run.mark("running")
        if typed.threads is not None:
            import torch

            torch.set_num_threads(typed.threads)
        seed_everything(typed.seed)
        try:
            result = fn(typed, run) or {}
        except BaseException as err:  # KeyboardInterrupt / SystemExit too: the run did not finish
            mark_failed(run, err)
            raise
        run.log_metrics({k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))})
        run.mark("complete")
        log.info("%s: finished on %s", stage, rank_label())
        return result
    finally:
        run.close()


def run_stage(
    stage: str, overrides: Sequence[str] = (), run_dir: str | Path | None = None
) -> dict[str, Any]:
    """Run a stage in-process (used by the pipeline and tests); ``run_dir`` defaults to Hydra's."""
    from hydra.core.hydra_config import HydraConfig

    from cycle.core.config import compose_stage

    cfg = compose_stage(stage, overrides, check=False)  # execute types and checks it
    if run_dir is None:
        run_dir = HydraConfig.get().run.dir
    return execute(stage, cfg, run_dir)
