"""The overrides every test run of a stage on the tiny experiment takes."""

from __future__ import annotations

from pathlib import Path


def tiny_overrides(root: Path, *extra: str) -> list[str]:
    """``experiment=tiny`` (run directories ``runs/<stage>/tiny``, where the factories put the
    data) under ``root``, CSV logging, then ``extra``."""
    return ["experiment=tiny", f"paths.root_dir={root}", "logger=csv", *extra]
