"""Run directories: the resolved config, logs, and a ``manifest.json`` of artifacts."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import platform
import random
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cycle.core.distributed import is_rank_zero
from cycle.core.io import atomic_write_json, atomic_write_text, sha256_path

MANIFEST = "manifest.json"
log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (torch only if it is already importable)."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:
        pass
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:
        pass


def _move_aside(run_dir: Path, config_sha256: str) -> Path:
    target = run_dir.with_name(f"{run_dir.name}.previous-{config_sha256[:12]}")
    if target.exists():
        shutil.rmtree(target)
    run_dir.rename(target)
    log.warning("%s was made with another config: moved to %s; starting afresh", run_dir, target)
    return target


@dataclass
class Run:
    """A stage's run directory. Artifacts are registered in the manifest with their hash."""

    dir: Path
    stage: str
    config: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    status: str = "running"  # running | complete | failed (set by the stage runner)
    # Only global rank 0 writes the run directory; the other ranks of a multi-process job read it.
    writer: bool = field(default_factory=is_rank_zero)
    error: str | None = None  # the one-line reason of a failed run

    @classmethod
    def open(
        cls, run_dir: str | os.PathLike, stage: str, cfg: DictConfig | dict | None = None
    ) -> Run:
        """Open (or create) a run directory. A rerun with the same config resumes from what the
        manifest lists; a run made with another config is moved aside to
        ``<dir>.previous-<its config hash>`` (kept, never resumed from) and the run starts afresh."""
        run_dir = Path(run_dir)
        if isinstance(
            cfg, DictConfig
        ):  # the job config; Hydra's own node holds volatile runtime values
            resolved = OmegaConf.to_container(
                OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]), resolve=True
            )
        else:
            resolved = dict(cfg or {})
        run = cls(dir=run_dir, stage=stage, config=resolved)
        manifest = run_dir / MANIFEST
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if run.writer and cfg is not None and old.get("config_sha256") != run.config_sha256:
                _move_aside(run_dir, str(old.get("config_sha256")))
            else:
                run.artifacts = old.get("artifacts", {})
                run.metrics = old.get("metrics", {})
                run.rejected = old.get("rejected", {})
                run.status = old.get("status", "running")
        if not run.writer:
            return run
        run_dir.mkdir(parents=True, exist_ok=True)
        if cfg is not None:
            atomic_write_text(
                run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved))
            )
        run.write_manifest()
        return run

    @property
    def config_sha256(self) -> str:
        return hashlib.sha256(
            json.dumps(self.config, sort_keys=True, default=str).encode()
        ).hexdigest()

    @property
    def complete(self) -> bool:
        """True when the stage finished with this exact config (a rerun may skip it)."""
        return self.status == "complete"

    def mark(self, status: str) -> None:
        self.status = status
        if status != "failed":
            self.error = None
        self.write_manifest()

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def has(self, name: str) -> bool:
        """True if artifact ``name`` was registered and its file or folder still exists."""
        entry = self.artifacts.get(name)
        return bool(entry) and (self.dir / entry["path"]).exists()

    def add_artifact(self, name: str, path: str | os.PathLike, **meta: Any) -> None:
        if not self.writer:
            return
        path = Path(path)
        rel = os.path.relpath(path, self.dir)
        self.artifacts[name] = {"path": rel, "sha256": sha256_path(path), **meta}
        self.write_manifest()

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        self.metrics.update(metrics)
        self.write_manifest()

    def log_rejected(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + count
        self.write_manifest()

    def write_manifest(self) -> None:
        if not self.writer:
            return
        atomic_write_json(
            self.dir / MANIFEST,
            {
                "stage": self.stage,
                "status": self.status,
                "config_sha256": self.config_sha256,
                "updated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "python": sys.version.split()[0],
                "platform": platform.platform(),
                "artifacts": self.artifacts,
                "metrics": self.metrics,
                "rejected": self.rejected,
                **({"error": self.error} if self.error else {}),
            },
        )


def one_line_reason(err: BaseException) -> str:
    """An exception as one line: its type and first message line (``interrupted`` for ^C)."""
    if isinstance(err, KeyboardInterrupt):
        return "interrupted"
    first = next((line for line in str(err).splitlines() if line.strip()), "")
    return f"{type(err).__name__}: {first}".rstrip(": ")


def mark_failed(run: Run, err: BaseException) -> None:
    """Record a stage that raised: ``status: failed`` and the one-line reason in the manifest.
    A rerun of the same command resumes it (its checkpoints and finished artifacts are kept)."""
    run.error = one_line_reason(err)
    run.mark("failed")
