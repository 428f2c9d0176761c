"""``cycle <stage> [hydra overrides]``: every installed stage as a Hydra app."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

USAGE = """usage: cycle <stage> [key=value ...] [-m] [--cfg job] [hydra options]

Runs a stage with conf/<stage>.yaml as its primary config (Hydra overrides and -m multirun
work as usual). The config tree is found from the working directory, the checkout, or
$CYCLE_CONFIG_DIR.

stages:
"""


def _help() -> str:
    from cycle.core.stages import discover_stages

    lines = []
    for name, ep in discover_stages().items():
        dist = ep.dist.name if ep.dist else "?"
        lines.append(f"  {name:<20} {ep.value}  ({dist})")
    return USAGE + ("\n".join(lines) if lines else "  (none installed)") + "\n"


def _stage_help(stage: str) -> str:
    """``cycle <stage> --help``: the stage config's header and the options of the config groups
    that fill the nodes its schema reads (the ``<group>/schema`` entries are left out)."""
    import dataclasses

    import yaml

    from cycle.core.config import find_config_dir, stage_schema

    conf = find_config_dir()
    header = []
    text = (conf / f"{stage}.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# ").rstrip() if line.startswith("# ") else line[1:])
    defaults = yaml.safe_load(text).get("defaults", [])
    chosen = {  # the groups the stage's own defaults list chooses (experiment, launcher, ...)
        next(iter(d)).split()[-1].split("@")[0].lstrip("/") for d in defaults if isinstance(d, dict)
    }
    read = {f.name for f in dataclasses.fields(stage_schema(stage))} | chosen
    groups = [
        f"  {d.name}: {', '.join(sorted(p.stem for p in d.glob('*.yaml')))}"
        for d in sorted(p for p in conf.iterdir() if p.is_dir())
        if d.name in read
    ]
    return (
        f"usage: cycle {stage} [group=option] [key=value ...] [-m] [--cfg job [--resolve]]\n\n"
        + "\n".join(header)
        + "\n\nconfig groups (group=option):\n"
        + "\n".join(groups)
        + f"\n\nconfig tree: {conf}; what the stage reads: cycle {stage} --cfg job\n"
    )


def _print_stage_config(stage: str, rest: list[str]) -> None:
    """``cycle <stage> --cfg job [--resolve]``: the nodes the stage reads, as its schema types
    them (Hydra's own ``--cfg job`` would also show the shared groups the stage leaves out)."""
    from omegaconf import OmegaConf

    from cycle.core.config import compose_stage, stage_node

    flags = {"--cfg", "job", "--resolve"}
    overrides = [a for a in rest if a not in flags]
    node = stage_node(stage, compose_stage(stage, overrides, check=False))
    sys.stdout.write(OmegaConf.to_yaml(node, resolve="--resolve" in rest))


def _set_rank_command(argv0: str, stage: str) -> None:
    """Make Lightning's launcher re-execute this job, and only it, for ranks >= 1.

    Lightning starts each extra rank as ``python -m <__main__'s module> sys.argv[1:]`` (or
    ``python sys.argv[0] sys.argv[1:]`` for a console script) plus ``hydra.run.dir=<run.dir>``:
    so argv becomes ``<the cycle script> <stage> <this job's overrides>`` (a multirun trial's own
    values, without ``-m``) and ``run.dir`` the job's output directory, where rank 0 writes.
    """
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    hydra_cfg = HydraConfig.get()
    sys.argv = [argv0, stage, *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir


def _save_job_configs(cfg: DictConfig, output_dir: str) -> None:
    """What Hydra writes to ``<output dir>/.hydra`` (the job config, Hydra's, the overrides),
    written here once the run directory is locked (base.yaml sets ``hydra.output_subdir: null``
    so that Hydra itself writes nothing into a directory another run may hold)."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from cycle.core.io import atomic_write_text

    hydra_cfg = HydraConfig.instance().cfg
    for name, node in (
        ("config.yaml", cfg),
        ("hydra.yaml", hydra_cfg),
        ("overrides.yaml", hydra_cfg.hydra.overrides.task),
    ):
        atomic_write_text(Path(output_dir, ".hydra", name), OmegaConf.to_yaml(node))


def _is_job_config_request(rest: list[str]) -> bool:
    """``--cfg job`` without ``-m`` (a sweep's ``--cfg`` is Hydra's)."""
    i = rest.index("--cfg") if "--cfg" in rest else -1
    return 0 <= i < len(rest) - 1 and rest[i + 1] == "job" and not {"-m", "--multirun"} & set(rest)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        sys.stdout.write(_help())
        return
    stage, rest = argv[0], argv[1:]

    import hydra
    from hydra.core.hydra_config import HydraConfig

    from cycle.core.config import find_config_dir, register_all_schemas
    from cycle.core.distributed import is_rank_zero
    from cycle.core.errors import ConfigError
    from cycle.core.runs import RunLocked, lock_run_dir, unlock_run_dir
    from cycle.core.stages import discover_stages, execute

    if stage not in discover_stages():
        sys.stderr.write(f"cycle: unknown stage '{stage}'\n\n" + _help())
        raise SystemExit(2)
    if "--help" in rest or "-h" in rest:
        sys.stdout.write(_stage_help(stage))
        return
    if _is_job_config_request(rest):
        try:
            _print_stage_config(stage, rest)
        except ConfigError as err:
            sys.stderr.write(f"cycle {stage}: {err}\n")
            raise SystemExit(1) from None
        return
    register_all_schemas()

    def task(cfg: DictConfig) -> float | None:
        _set_rank_command(launcher_argv0, stage)
        output_dir = HydraConfig.get().runtime.output_dir
        try:
            if is_rank_zero():  # lock first: a refused run writes nothing into the holder's dir
                lock_run_dir(output_dir)
                _save_job_configs(cfg, output_dir)
            result = execute(stage, cfg, output_dir)
        except (ConfigError, FileNotFoundError, RunLocked) as err:  # one line, no traceback
            sys.stderr.write(f"cycle {stage}: {str(err).strip().splitlines()[0]}\n")
            raise SystemExit(1) from None
        finally:
            unlock_run_dir(output_dir)
        objective = cfg.get("objective")
        return float(result[objective]) if objective and objective in result else None

    if "-m" in rest or "--multirun" in rest:  # trials learn which keys are swept (names, tags)
        from cycle.core.sweeps import SWEPT_ENV, command_line_swept_keys

        os.environ[SWEPT_ENV] = ",".join(command_line_swept_keys(rest))
    launcher_argv0 = sys.argv[0]
    sys.argv = [f"cycle {stage}", *rest]  # what Hydra parses and shows in its --help
    hydra.main(version_base="1.3", config_path=str(find_config_dir()), config_name=stage)(task)()


if __name__ == "__main__":
    main()
