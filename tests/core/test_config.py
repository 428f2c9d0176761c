"""Every config under conf/ composes; each stage's schema is strict; experiments hold only
choices, upstream runs and hardware; trainer presets instantiate."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from cycle.core.config import compose_stage, find_config_dir, load_stage_config, stage_schema
from cycle.core.errors import ConfigError
from cycle.core.training.trainer import build_strategy, build_trainer

CONF = find_config_dir()
STAGES = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem != "base")
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
GROUPS_WITHOUT_STAGE_DEFAULT = {"experiment", "sweep", "launcher", "paths"}
# What an experiment may set besides its preset choices and upstream runs: hardware.
HARDWARE = {
    "trainer": {"devices", "num_nodes"},
    "backend": {"tensor_parallel_size", "batch_size", "static_cache"},
}


def _reads(stage: str) -> set[str]:
    """The nodes a stage's schema names."""
    return {f.name for f in dataclasses.fields(stage_schema(stage))}


def _stage_groups(stage: str) -> set[str]:
    return {g for g in _reads(stage) if (CONF / g).is_dir()}


def _resolve(cfg) -> dict:
    """Resolve every interpolation of the job config (``???`` values may stay missing)."""
    return OmegaConf.to_container(
        OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]),
        resolve=True,
        throw_on_missing=False,
    )


def _options():
    for group_dir in sorted(p for p in CONF.iterdir() if p.is_dir()):
        for option in sorted(group_dir.glob("*.yaml")):
            yield group_dir.name, option.stem


@pytest.mark.parametrize("stage", STAGES)
def test_every_stage_config_composes_and_resolves(stage, tmp_path):
    cfg = compose_stage(stage, [f"paths.root_dir={tmp_path}"])
    _resolve(cfg)
    assert cfg.stage == stage
    assert cfg.hydra.run.dir.startswith(str(tmp_path))


@pytest.mark.parametrize(
    ("group", "option"), [o for o in _options() if o[0] not in GROUPS_WITHOUT_STAGE_DEFAULT]
)
def test_every_group_option_composes_in_a_stage_that_uses_the_group(group, option, tmp_path):
    stages = [s for s in STAGES if group in _stage_groups(s)]
    assert stages, f"no stage uses group '{group}'"
    cfg = compose_stage(stages[0], [f"{group}={option}", f"paths.root_dir={tmp_path}"])
    OmegaConf.to_container(cfg[group], resolve=True)


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_with_every_stage(experiment, tmp_path):
    """An experiment chooses presets and hardware for whichever stage it is run with; its
    per-stage settings are recipes (conf/recipe/<stage>/...), applied only to their stage."""
    for stage in STAGES:
        cfg = compose_stage(stage, [f"experiment={experiment}", f"paths.root_dir={tmp_path}"])
        _resolve(cfg)
        assert cfg.experiment_name == experiment


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_hold_only_choices_upstream_and_hardware(experiment):
    data = yaml.safe_load((CONF / "experiment" / f"{experiment}.yaml").read_text()) or {}
    for key, value in data.items():
        if key in ("defaults", "upstream", "seed", "threads"):
            continue
        if key == "review":
            assert set(value) == {"backend"}, f"{experiment}: review.{set(value) - {'backend'}}"
            value = value["backend"]
            key = "backend"
        assert key in HARDWARE, f"{experiment} sets {key}: a recipe's or a preset's key"
        assert set(value) <= HARDWARE[key], f"{experiment}: {key}.{set(value) - HARDWARE[key]}"


def test_a_typo_inside_a_stage_node_fails_composition(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "recipe" / "train_reviewer" / "experiment" / "typo.yaml").write_text(
        "# @package _global_\nsft:\n  max_lenght: 512\n"
    )
    (conf / "experiment" / "typo.yaml").write_text("# @package _global_\n")
    with pytest.raises(ConfigError, match="max_lenght.*not in 'SFTConfig'"):
        compose_stage("train_reviewer", ["experiment=typo", f"paths.root_dir={tmp_path}"], conf)
    with pytest.raises(ConfigError, match="rounds.*not in 'GenerateConfig'"):
        compose_stage("generate", ["+rounds=3", f"paths.root_dir={tmp_path}"])


def test_a_stage_leaves_out_the_groups_it_does_not_read(tmp_path):
    cfg = load_stage_config("build_data", ["trainer=gpu", f"paths.root_dir={tmp_path}"])
    assert not hasattr(cfg, "trainer") and not hasattr(cfg, "review")
    assert type(cfg).__name__ == "BuildDataConfig" and cfg.data.name == "sample"
    trained = load_stage_config("train_reviewer", [f"paths.root_dir={tmp_path}"])
    assert (
        trained.peft.method == "lora_ga" and trained.sft.max_length == trained.model.context_length
    )


def test_schema_rejects_a_wrong_type_at_composition(tmp_path):
    stage = next(s for s in STAGES if "trainer" in _stage_groups(s))
    with pytest.raises(ConfigCompositionException):
        compose_stage(stage, ["trainer.max_epochs=many", f"paths.root_dir={tmp_path}"])
    with pytest.raises(ConfigCompositionException, match="max_epoch"):
        compose_stage(stage, ["trainer.max_epoch=3", f"paths.root_dir={tmp_path}"])


def test_schema_rejects_a_typo_in_a_config_file(tmp_path):
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "typo.yaml").write_text(
        "# @package _global_\ntrainer:\n  max_epoch: 3\n"
    )
    stage = next(s for s in STAGES if "trainer" in _stage_groups(s))
    with pytest.raises(ConfigCompositionException, match="Key 'max_epoch' not in 'TrainerConfig'"):
        compose_stage(stage, ["experiment=typo", f"paths.root_dir={tmp_path}"], config_dir=conf)


def test_run_name_and_wandb_group_follow_experiment_and_overrides(tmp_path):
    stage = next(s for s in STAGES if "trainer" in _stage_groups(s))
    cfg = compose_stage(stage, ["optim.lr=0.001", f"paths.root_dir={tmp_path}"])
    assert cfg.run_name == "default/optim.lr=0.001"
    assert cfg.logger.group == "default"
    assert cfg.logger.run_name == f"{stage}/optim.lr=0.001"
    assert cfg.logger.mode == "offline"
    assert Path(cfg.hydra.run.dir) == tmp_path / "runs" / stage / "default" / "optim.lr=0.001"


def test_cpu_trainer_preset_instantiates(tmp_path):
    cfg = load_stage_config(
        next(s for s in STAGES if "trainer" in _stage_groups(s)), [f"paths.root_dir={tmp_path}"]
    )
    trainer = build_trainer(cfg.trainer, default_root_dir=tmp_path)
    assert trainer.accumulate_grad_batches == cfg.trainer.accumulate_grad_batches
    assert trainer.gradient_clip_val == cfg.trainer.gradient_clip_val


@pytest.mark.parametrize(
    ("preset", "stage", "offload"),
    [
        ("deepspeed_zero2", 2, False),
        ("deepspeed_zero3", 3, False),
        ("deepspeed_zero3_offload", 3, True),
    ],
)
def test_deepspeed_presets_construct_their_strategy_on_cpu(preset, stage, offload, tmp_path):
    pytest.importorskip("deepspeed")
    from lightning.pytorch.strategies import DeepSpeedStrategy

    s = next(s for s in STAGES if "trainer" in _stage_groups(s))
    tcfg = load_stage_config(s, [f"trainer={preset}", f"paths.root_dir={tmp_path}"]).trainer
    assert tcfg.precision == "bf16-mixed" and tcfg.gradient_clip_val == 1.0
    strategy = build_strategy(tcfg)
    assert isinstance(strategy, DeepSpeedStrategy)
    zero = strategy.config["zero_optimization"]
    assert zero["stage"] == stage
    assert ("offload_optimizer" in zero) is offload
    assert ("offload_param" in zero) is offload


def test_seed_is_part_of_the_run_directory(tmp_path):
    """`seed=1` gets its own run directory instead of displacing the seed=0 run."""
    common = ["data_files=[x]", f"paths.root_dir={tmp_path}"]
    first = compose_stage("train_lm", common).hydra.run.dir
    other = compose_stage("train_lm", [*common, "seed=1"]).hydra.run.dir
    assert other != first and other.endswith(",seed=1")
