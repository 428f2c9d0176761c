"""Where a stage finds its inputs: the artifacts an upstream run recorded in its manifest.

A stage's input keys (``review5k_dir``, ``research14k_dir``, ``policy``, ...) default to
``${cycle.upstream:<runs_dir>,<stage>,<experiment>,<artifact>[,<fallback>]}``: the path that the
most recently completed run of ``cycle <stage> experiment=<experiment>`` (with any other overrides:
``runs/<stage>/<experiment>[/<overrides>]``, or a single job sent through a launcher) recorded
for ``<artifact>``. So
``cycle build_data data=review5k experiment=X`` chains into ``cycle train_reviewer experiment=X``
although its run directory is named after its overrides. With no such run the key resolves to
``<fallback>`` if given, else to the directory a plain ``cycle <stage> experiment=<experiment>``
would write (which the stage then reports as missing, with the command that makes it).
Which experiment's runs a stage reads is ``upstream.<stage>`` (base.yaml); a preset may point it
at another experiment (experiment=cycle_12b reads researcher_12b's data and SFT policy).
Before a stage runs, every input found this way must still have the hash its run recorded
(``check_upstream``): an edited file is not used silently. A path given explicitly is the
user's and is not checked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cycle.core.errors import ConfigError
from cycle.core.runs import MANIFEST, artifact_intact

# build_data's artifacts and the data= choice that builds each at paper scale (data=sample, the
# default, builds both from the bundled corpus).
DATA_CHOICE = {"review5k": "review5k", "research14k": "research14k"}


@dataclass(frozen=True)
class Recorded:
    """Where an upstream artifact is and who recorded it."""

    run_dir: Path
    entry: dict[str, Any]
    stage: str
    experiment: str
    artifact: str

    @property
    def command(self) -> str:
        if self.stage == "build_data" and self.artifact in DATA_CHOICE:
            return build_data_command(self.experiment, self.artifact)
        return stage_command(self.stage, self.experiment)


# The artifacts this process's ``cycle.upstream`` resolutions returned, by absolute path.
_RESOLVED: dict[str, Recorded] = {}


class UpstreamChanged(ConfigError):
    """A recorded upstream artifact no longer has its recorded hash."""


def check_upstream(config: Any) -> None:
    """Raise ``UpstreamChanged`` (one line naming the fix) when an input of this resolved
    config that ``cycle.upstream`` found has changed since its run recorded it."""
    if isinstance(config, dict):
        values: Iterable[Any] = config.values()
    elif isinstance(config, list):
        values = config
    else:
        found = _RESOLVED.get(config) if isinstance(config, str) else None
        if found is not None and not artifact_intact(found.run_dir, found.entry):
            raise UpstreamChanged(
                f"{config} ({found.artifact}) changed since `{found.command}` recorded it in "
                f"{found.run_dir / MANIFEST}: rerun that run to rebuild it, or give the path "
                "explicitly to use it as it is now"
            )
        return
    for value in values:
        check_upstream(value)


def recorded_artifact(
    runs_dir: str | os.PathLike, stage: str, experiment: str, artifact: str
) -> Path | None:
    """The path of ``artifact`` in the latest complete run of ``stage`` for ``experiment``."""
    found = _latest_record(runs_dir, stage, experiment, artifact)
    return Path(os.path.abspath(found.run_dir / found.entry["path"])) if found else None


def _latest_record(
    runs_dir: str | os.PathLike, stage: str, experiment: str, artifact: str
) -> Recorded | None:
    root = Path(runs_dir) / stage / experiment
    best: tuple[str, Recorded] | None = None
    for manifest in [
        root / MANIFEST,
        *root.glob(f"*/{MANIFEST}"),
        *_launched_runs(runs_dir, stage, experiment),
    ]:
        if ".previous-" in manifest.parent.name or not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        entry = data.get("artifacts", {}).get(artifact)
        if data.get("status") != "complete" or not entry:
            continue
        path = manifest.parent / entry["path"]
        if path.exists() and (best is None or data.get("updated", "") > best[0]):
            record = Recorded(manifest.parent, entry, stage, experiment, artifact)
            best = (data.get("updated", ""), record)
    return best[1] if best else None


def _launched_runs(runs_dir: str | os.PathLike, stage: str, experiment: str) -> list[Path]:
    """Manifests of single-job "sweeps": a run sent through a launcher (``-m launcher=slurm``
    with no swept key) lands in ``runs/<stage>/multirun/<experiment>/<time>/0_``."""
    out = []
    for sweep in (Path(runs_dir) / stage / "multirun" / experiment).glob("*"):
        trials = list(sweep.glob(f"*/{MANIFEST}"))
        if len(trials) == 1:
            out.append(trials[0])
    return out


def upstream_path(
    runs_dir: str, stage: str, experiment: str, artifact: str, fallback: str | None = None
) -> str:
    """The ``cycle.upstream`` resolver (see the module docstring)."""
    found = _latest_record(runs_dir, stage, experiment, artifact)
    if found is not None:
        path = os.path.abspath(found.run_dir / found.entry["path"])
        _RESOLVED[path] = found
        return path
    if fallback not in (None, "", "None"):
        return str(fallback)
    return f"{runs_dir}/{stage}/{experiment}/{artifact}"


def stage_command(stage: str, experiment: str, *overrides: str) -> str:
    """``cycle <stage> [overrides] [experiment=<experiment>]`` as a user would type it."""
    parts = ["cycle", stage, *overrides]
    if experiment not in ("default", "", None):
        parts.append(f"experiment={experiment}")
    return " ".join(parts)


def build_data_command(experiment: str, artifact: str) -> str:
    """The ``cycle build_data`` command that makes ``artifact`` for ``experiment``: the bundled
    sample for the default and tiny settings, the released dataset for a paper preset."""
    data = [] if experiment in ("default", "tiny") else [f"data={DATA_CHOICE[artifact]}"]
    return stage_command("build_data", experiment, *data)
