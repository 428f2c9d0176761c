"""Sweeps (``cycle <stage> -m ...``): trial names, W&B tags and a table comparing the trials;
and the path-safe folder names of runs and trials (``${cycle.join:...}``).

The swept keys are those of ``hydra.sweeper.params`` (a ``sweep=`` preset) plus the keys the
command line sweeps (``key=a,b``, ``key=range(...)``), which the ``cycle`` command passes to
every trial in ``$CYCLE_SWEPT_KEYS`` (trials may run in other processes: submitit, SLURM).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from cycle.core.io import atomic_write_text
from cycle.core.runs import MANIFEST

SWEPT_ENV = "CYCLE_SWEPT_KEYS"
TABLE = "comparison"  # <sweep dir>/comparison.md and comparison.csv
log = logging.getLogger(__name__)


def _safe_part(part: str, limit: int = 96) -> str:
    """One path component: separators replaced, long values shortened with a hash suffix."""
    safe = part.replace(os.sep, "_").replace("[", "").replace("]", "")
    if len(safe) > limit:
        safe = safe[: limit - 9] + "-" + hashlib.sha256(part.encode()).hexdigest()[:8]
    return safe


def join_name(*parts: Any) -> str:
    """``experiment/overrides`` as a run directory name (each part made path-safe)."""
    return "/".join(_safe_part(str(p)) for p in parts if p not in (None, "", "None"))


def command_line_swept_keys(overrides: Sequence[str]) -> list[str]:
    """The keys a command line sweeps (``simpo.beta=1,2``), hydra's own keys excluded."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([o for o in overrides if "=" in o])
    return [
        o.get_key_element()
        for o in parsed
        if o.is_sweep_override() and not o.get_key_element().startswith("hydra.")
    ]


def swept_keys(hydra_cfg: Any) -> list[str]:
    """Keys of ``hydra.sweeper.params`` and of ``$CYCLE_SWEPT_KEYS``, in that order."""
    params = OmegaConf.select(hydra_cfg, "sweeper.params", default=None) or {}
    keys = [str(k) for k in params]
    env = [k for k in os.environ.get(SWEPT_ENV, "").split(",") if k]
    return keys + [k for k in env if k not in keys]


def _multirun_job() -> Any | None:
    """HydraConfig of the current multirun job, else None (a plain run, or no Hydra app)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return hydra_cfg if hydra_cfg.mode == RunMode.MULTIRUN else None


def trial_values(hydra_cfg: Any) -> list[str]:
    """``key=value`` of this trial's swept keys (its own overrides, in sweep order)."""
    overrides = dict(o.split("=", 1) for o in hydra_cfg.overrides.task if "=" in o)
    return [f"{k}={overrides[k]}" for k in swept_keys(hydra_cfg) if k in overrides]


def trial_name() -> str:
    """The ``cycle.trial`` resolver: a sweep trial's folder is named by its swept values (every
    override when none is known), so paths and long overrides never hide the β/γ/λ of a trial."""
    hydra_cfg = _multirun_job()
    if hydra_cfg is None:
        return ""
    values = trial_values(hydra_cfg)
    return join_name(",".join(values) if values else hydra_cfg.job.override_dirname)


def trial_tags() -> list[str]:
    """The ``cycle.sweep_tags`` resolver: the swept ``key=value`` of a trial (W&B tags)."""
    hydra_cfg = _multirun_job()
    return trial_values(hydra_cfg) if hydra_cfg is not None else []


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float, str)) and not isinstance(value, bool)


def comparison_rows(sweep_dir: Path, objective: str | None) -> list[dict[str, Any]]:
    """One row per trial folder: its overrides, status, objective and numeric metrics."""
    rows = []
    for manifest in sorted(sweep_dir.glob(f"*/{MANIFEST}"), key=lambda p: p.parent.name):
        trial = manifest.parent
        data = json.loads(manifest.read_text(encoding="utf-8"))
        overrides_file = trial / ".hydra" / "overrides.yaml"
        overrides = OmegaConf.load(overrides_file) if overrides_file.is_file() else []
        metrics = {k: v for k, v in data.get("metrics", {}).items() if _scalar(v)}
        rows.append(
            {
                "trial": trial.name,
                "values": dict(str(o).split("=", 1) for o in overrides if "=" in str(o)),
                "status": data.get("status"),
                "error": data.get("error", ""),
                "objective": metrics.pop(objective, None) if objective else None,
                "metrics": metrics,
            }
        )
    return rows


def write_comparison(
    sweep_dir: Path,
    objective: str | None,
    swept: Sequence[str] = (),
    direction: str | None = None,
) -> tuple[Path, Path] | None:
    """``comparison.md`` / ``comparison.csv`` in ``sweep_dir``: per trial its swept values (the
    ``swept`` keys and any override that differs between trials), status, objective and every
    numeric metric; the markdown lists the best trial first when ``direction`` is given."""
    rows = comparison_rows(sweep_dir, objective)
    if not rows:
        return None
    keys = sorted({k for r in rows for k in r["values"]})
    varying = [k for k in keys if len({r["values"].get(k) for r in rows}) > 1]
    columns = [*swept, *(k for k in varying if k not in swept)]
    metric_keys = sorted({k for r in rows for k in r["metrics"]})
    header = ["trial", *columns, "status", objective or "objective", *metric_keys, "error"]

    def line(r: dict[str, Any]) -> list[Any]:
        return [
            r["trial"],
            *(r["values"].get(k, "") for k in columns),
            r["status"],
            r["objective"],
            *(r["metrics"].get(k, "") for k in metric_keys),
            r["error"],
        ]

    buf = io.StringIO()
    csv.writer(buf).writerows([header, *(line(r) for r in rows)])
    csv_path = atomic_write_text(sweep_dir / f"{TABLE}.csv", buf.getvalue())
    if direction in ("maximize", "minimize"):
        scored = [r for r in rows if isinstance(r["objective"], (int, float))]
        scored.sort(key=lambda r: r["objective"], reverse=direction == "maximize")
        rows = scored + [r for r in rows if r not in scored]

    def cell(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))

    md = [
        f"# Sweep {sweep_dir.name}",
        "",
        f"{len(rows)} trials; swept: {', '.join(columns) or 'nothing'}; objective: {objective}"
        + (f" ({direction}, best first)" if direction else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(cell(v) for v in line(r)) + " |" for r in rows),
    ]
    md_path = atomic_write_text(sweep_dir / f"{TABLE}.md", "\n".join(md) + "\n")
    return md_path, csv_path


class SweepTable(Callback):
    """Hydra callback: writes the comparison table in the sweep folder when a sweep ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        if not sweep_dir.is_dir():
            return
        direction = OmegaConf.select(config, "hydra.sweeper.direction", default=None)
        written = write_comparison(
            sweep_dir,
            config.get("objective"),
            swept_keys(config.hydra),
            str(direction).lower() if isinstance(direction, str) else None,
        )
        if written:
            log.info("sweep comparison: %s and %s", *written)
