"""Run directories: the resolved config, logs, and a ``manifest.json`` of artifacts.

One process at a time owns a run directory (``lock_run_dir``); opening it removes the temporaries
an interrupted run left, and a registered artifact counts only while its hash still matches.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import hashlib
import json
import logging
import os
import platform
import random
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from cycle.core.distributed import is_rank_zero
from cycle.core.io import (
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    remove_temp_leftovers,
    sha256_path,
    stat_fingerprint,
)

MANIFEST = "manifest.json"
_BOOKKEEPING = frozenset({"path", "sha256", "stat"})  # what add_artifact records itself
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


class RunLocked(RuntimeError):
    """Another live process owns the run directory."""


_HELD_LOCKS: dict[Path, int] = {}  # run directory -> the open lock file this process holds


def _lock_file(run_dir: Path) -> Path:
    """A sibling, not a file inside: moving a run aside (``_move_aside``) keeps the lock."""
    return run_dir.with_name(f".{run_dir.name}.lock")


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def _is_ancestor(pid: int | None) -> bool:
    """True when ``pid`` started this process (a DDP rank re-launched by the rank-0 stage)."""
    import psutil

    return pid is not None and pid in {p.pid for p in psutil.Process().parents()}


def lock_run_dir(run_dir: str | os.PathLike) -> bool:
    """Own ``run_dir`` until ``unlock_run_dir`` or exit (``flock``: the kernel drops it when the
    holder dies, so a lock left by a killed run is taken over). Another live holder makes this
    raise ``RunLocked`` at once, naming its pid; a process the holder started shares its lock.
    The lock is the resolved directory's, whatever name (a symlink) leads to it. Taking it
    removes the temporaries an interrupted run left; True when this call took it."""
    run_dir = Path(run_dir).resolve()
    if run_dir in _HELD_LOCKS:
        return False
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(_lock_file(run_dir), os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_pid(fd)
        os.close(fd)
        if _is_ancestor(holder):
            return False
        raise RunLocked(
            f"{run_dir} is in use by another run (pid {holder}): wait for it to finish, or give "
            "this one another directory (experiment=... or hydra.run.dir=...)"
        ) from None
    previous = _read_pid(fd)
    if previous not in (None, os.getpid()):
        log.warning("%s: took over the lock left by pid %s (no longer running)", run_dir, previous)
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())
    _HELD_LOCKS[run_dir] = fd
    if run_dir.is_dir():
        remove_temp_leftovers(run_dir)
    return True


def unlock_run_dir(run_dir: str | os.PathLike) -> None:
    fd = _HELD_LOCKS.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def artifact_intact(run_dir: Path, entry: dict[str, Any]) -> bool:
    """The registered file or folder exists and still has the hash the manifest recorded (read
    only when the sizes and modification times differ from the recorded ones)."""
    path = run_dir / entry["path"]
    if not path.exists():
        return False
    if "sha256" not in entry or entry.get("stat") == stat_fingerprint(path):
        return True
    return sha256_path(path) == entry["sha256"]


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
    _verified: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def open(cls, run_dir: str | os.PathLike, stage: str, cfg: dict[str, Any] | None = None) -> Run:
        """Open (or create) a run directory. A rerun with the same config resumes from what the
        manifest lists; a run made with another config is moved aside to
        ``<dir>.previous-<its config hash>`` (kept, never resumed from) and the run starts afresh.
        The directory is locked to this process (``RunLocked`` if another run owns it)."""
        run_dir = Path(run_dir)
        if is_rank_zero():  # ranks > 0 only read the directory: the lock is rank 0's
            lock_run_dir(run_dir)
        run = cls(dir=run_dir, stage=stage, config=dict(cfg or {}))
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
            atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(cfg)))
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

    def close(self) -> None:
        """Release the run directory's lock."""
        unlock_run_dir(self.dir)

    def broken_artifacts(self) -> list[str]:
        """Registered artifacts that are gone or no longer match their recorded hash."""
        return [name for name in self.artifacts if not self.has(name)]

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
        """True if artifact ``name`` was registered and its file or folder still exists with the
        recorded hash (checked once per process: a truncated file is redone, not trusted)."""
        entry = self.artifacts.get(name)
        if not entry:
            return False
        if name not in self._verified:
            if not artifact_intact(self.dir, entry):
                log.warning(
                    "%s: artifact %r is missing or changed since it was recorded", self.dir, name
                )
                return False
            self._verified.add(name)
        return (self.dir / entry["path"]).exists()

    def done_artifact(self, name: str) -> bool:
        """``has(name)``, logged: a stage whose output (e.g. its exported model) is already
        there skips its work on a rerun."""
        if not self.has(name):
            return False
        log.info("%s: %s already has a %s; skipping", self.stage, self.dir, name)
        return True

    def add_artifact(self, name: str, path: str | os.PathLike, **meta: Any) -> None:
        if not self.writer:
            return
        path = Path(path)
        rel = os.path.relpath(path, self.dir)
        stat = stat_fingerprint(path)  # before the hash: a change while hashing reads as changed
        self.artifacts[name] = {"path": rel, "sha256": sha256_path(path), "stat": stat, **meta}
        self._verified.add(name)
        self.write_manifest()

    def artifact_meta(self, name: str) -> dict[str, Any]:
        """What the stage recorded with an artifact, without the run's bookkeeping keys."""
        return {k: v for k, v in self.artifacts[name].items() if k not in _BOOKKEEPING}

    def log_metrics(self, metrics: dict[str, Any]) -> None:
        self.metrics.update(metrics)
        self.write_manifest()

    def log_rejected(self, reason: str, count: int = 1) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + count
        self.write_manifest()

    def reject_rows(
        self,
        rows: Sequence[dict[str, Any]],
        name: str = "rejected",
        reason: str | Callable[[dict[str, Any]], str] = lambda row: row["reason"],
    ) -> None:
        """Records a stage could not use: written to ``<name>.jsonl`` (each with its reason),
        registered as the artifact ``name`` and counted per reason in the manifest."""
        if not rows:
            return
        path = self.path(f"{name}.jsonl")
        atomic_write_jsonl(path, rows)
        self.add_artifact(name, path)
        counts = Counter(reason if isinstance(reason, str) else reason(row) for row in rows)
        for key, count in counts.items():
            self.log_rejected(key, count)

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
