"""Finding the config tree, composing stage configs, typing them, and instantiating ``_target_``
nodes.

A stage's config is composed by Hydra (conf/<stage>.yaml and every shared group of base.yaml),
then converted once, strictly, into the stage's schema (``stage_config``): the nodes the schema
names are kept, a shared group's node it does not name is left out (an experiment may choose
presets for stages that do not read them), and any other key is an error naming its path.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from cycle.core.errors import ConfigError
from cycle.core.sweeps import join_name, trial_name, trial_tags

CONFIG_ENV = "CYCLE_CONFIG_DIR"
SCHEMA_GROUP = "cycle.schemas"
T = TypeVar("T")


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


@functools.cache
def register_all_schemas() -> None:
    """Register core's schemas and those of every installed package (entry points
    ``cycle.schemas``), once per process."""
    from cycle.core.schemas import register_configs

    register_resolvers()
    register_configs()
    for ep in entry_points(group=SCHEMA_GROUP):
        ep.load()()


def compose_stage(
    stage: str,
    overrides: Sequence[str] = (),
    config_dir: str | Path | None = None,
    *,
    check: bool = True,
) -> DictConfig:
    """Compose a stage config as ``cycle <stage> overrides...`` would, outside a Hydra app, and
    check it against the stage's schema (``ConfigError`` for an unknown key; ``check=False``
    for a caller that types it next, which checks it then).

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
    if check:
        stage_node(stage, cfg)  # an unknown key fails here, as at `cycle <stage>`
    return cfg


def instantiate(node: Any, **kwargs: Any) -> Any:
    """The one place ``_target_`` nodes are instantiated (partial and recursive as Hydra does)."""
    from hydra.utils import instantiate as _instantiate

    return _instantiate(node, **kwargs)


def stage_schema(stage: str) -> type:
    from cycle.core.schemas import STAGE_SCHEMAS

    register_all_schemas()
    if stage not in STAGE_SCHEMAS:
        raise ConfigError(f"stage '{stage}' registered no config schema (register_stage)")
    return STAGE_SCHEMAS[stage]


def _group_nodes() -> set[str]:
    """The top-level nodes that config groups filled (``model``, ``trainer``, ``review``...)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    nodes = set()
    for choice in HydraConfig.get().runtime.choices:
        package = choice.split("@", 1)[1] if "@" in choice else choice
        if not choice.startswith(("hydra/", "recipe/")) and package != "_global_":
            nodes.add(package.split(".", 1)[0])
    return nodes


def stage_node(stage: str, cfg: DictConfig) -> DictConfig:
    """``cfg`` (a composed stage config) merged into the stage's schema, unresolved: what the stage
    reads. Raises ``ConfigError`` naming an unknown or mistyped key."""
    import dataclasses

    from omegaconf.errors import OmegaConfBaseException

    schema = stage_schema(stage)
    read = {f.name for f in dataclasses.fields(schema)}
    unread_groups = _group_nodes() - read
    keys = [k for k in cfg if k != "hydra" and k not in unread_groups]
    try:
        node = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.masked_copy(cfg, keys))
    except OmegaConfBaseException as err:
        reason = str(err).splitlines()[0]
        key = getattr(err, "full_key", None)
        raise ConfigError(
            f"{stage}: {reason}" + (f" (at {key})" if key else "") + f"; {schema.__name__} lists "
            "what the stage reads (`cycle " + stage + " --cfg job` shows it)"
        ) from None
    OmegaConf.set_struct(node, True)
    return node


def stage_config(stage: str, cfg: DictConfig) -> Any:
    """The typed config a stage runs with: ``stage_node`` with every interpolation resolved
    (upstream paths included, once)."""
    from omegaconf.errors import MissingMandatoryValue

    node = stage_node(stage, cfg)
    try:
        return OmegaConf.to_object(node)
    except MissingMandatoryValue as err:
        key = getattr(err, "full_key", "?")
        raise ConfigError(f"{stage}: {key} has no value: give it, e.g. `{key}=...`") from None


def load_stage_config(
    stage: str, overrides: Sequence[str] = (), config_dir: str | Path | None = None
) -> Any:
    """``compose_stage`` then ``stage_config``: the typed config ``cycle <stage> overrides...``
    runs with."""
    return stage_config(stage, compose_stage(stage, overrides, config_dir, check=False))


def read_stage_config(stage: str, path: str | Path) -> Any:
    """A run's recorded (resolved) config file, typed again (a step run in a child process)."""
    schema = stage_schema(stage)
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.load(path)))


def with_changes(base: T, changes: Mapping[str, Any] | None, where: str) -> T:
    """A copy of the dataclass ``base`` with the partial ``changes`` merged in (nested dicts for
    nested dataclasses: ``{"tiny": {"hidden_size": 64}}``), checked as the schema checks a
    composed config: an unknown key or a wrong type is a ``ConfigError`` naming its path under
    ``where`` (e.g. ``reviewers.base.model``)."""
    from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

    if not changes:
        return base
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(base), changes))
    except OmegaConfBaseException as err:
        key = f"{where}.{err.full_key}" if getattr(err, "full_key", None) else where
        owner = getattr(err, "object_type", None) or type(base)
        kind = (
            f"no such key in {owner.__name__}" if isinstance(err, ConfigKeyError) else "wrong value"
        )
        raise ConfigError(f"{key}: {kind} ({str(err).splitlines()[0]})") from None
