"""Finding the config tree, composing stage configs, and instantiating ``_target_`` nodes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cycle.core.sweeps import join_name, trial_name, trial_tags

CONFIG_ENV = "CYCLE_CONFIG_DIR"
SCHEMA_GROUP = "cycle.schemas"


# The config tree shipped with cycle-core: a link to the checkout's conf/ in the source tree,
# whose files a wheel (a non-editable install) packs as cycle/core/conf.
PACKAGED_CONFIG = Path(__file__).resolve().parent / "conf"


def find_config_dir() -> Path:
    """``$CYCLE_CONFIG_DIR``, else a ``conf/`` above the working directory, else the tree
    installed with cycle-core (the checkout's in an editable install)."""
    if env := os.environ.get(CONFIG_ENV):
        path = Path(env).expanduser().resolve()
        if not (path / "base.yaml").is_file():
            raise FileNotFoundError(f"{CONFIG_ENV}={env} has no base.yaml")
        return path
    for parent in [Path.cwd(), *Path.cwd().parents]:
        if (parent / "conf" / "base.yaml").is_file():
            return parent / "conf"
    if (PACKAGED_CONFIG / "base.yaml").is_file():
        return PACKAGED_CONFIG
    raise FileNotFoundError(
        f"no cycle config tree found: run from the repository, or set {CONFIG_ENV}=/path/to/conf"
    )


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("cycle.or"):
        OmegaConf.register_new_resolver(
            "cycle.or", lambda value, default: default if value in (None, "", "None") else value
        )
    if not OmegaConf.has_resolver("cycle.join"):
        OmegaConf.register_new_resolver("cycle.join", join_name)
    if not OmegaConf.has_resolver("cycle.trial"):
        OmegaConf.register_new_resolver("cycle.trial", trial_name)
        OmegaConf.register_new_resolver("cycle.sweep_tags", trial_tags)
    if not OmegaConf.has_resolver("cycle.upstream"):
        from cycle.core.upstream import upstream_path

        OmegaConf.register_new_resolver("cycle.upstream", upstream_path)


def register_all_schemas() -> None:
    """Register core's schemas and those of every installed package (entry points ``cycle.schemas``)."""
    from cycle.core.schemas import register_configs

    register_resolvers()
    register_configs()
    for ep in entry_points(group=SCHEMA_GROUP):
        ep.load()()


def compose_stage(
    stage: str, overrides: Sequence[str] = (), config_dir: str | Path | None = None
) -> DictConfig:
    """Compose a stage config as ``cycle <stage> overrides...`` would, outside a Hydra app.

    The ``hydra`` node is kept and installed in ``HydraConfig`` so that ``${hydra:...}``
    interpolations (run names, W&B group, the output directory) resolve as in a real run.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    register_all_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_dir(
        str(Path(config_dir or find_config_dir()).resolve()), version_base="1.3"
    ):
        cfg = compose(config_name=stage, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with read_write(cfg.hydra), open_dict(cfg.hydra):  # what a Hydra app sets when the job starts
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).resolve())
    HydraConfig.instance().set_config(cfg)
    return cfg


def instantiate(node: Any, **kwargs: Any) -> Any:
    """The one place ``_target_`` nodes are instantiated (partial and recursive as Hydra does)."""
    from hydra.utils import instantiate as _instantiate

    return _instantiate(node, **kwargs)


def to_dataclass(node: DictConfig | dict, cls: type) -> Any:
    """A plain dataclass instance from a config node (schema-checked groups convert losslessly)."""
    import dataclasses

    data = (
        OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node)
    )
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
