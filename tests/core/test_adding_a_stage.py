"""Every installed stage has what README.md's "Adding a stage" lists; stages come from the entry
points (``discover_stages``), so a new stage is checked without editing this file."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import get_type_hints

import pytest

from cycle.core.config import SCHEMA_GROUP, find_config_dir, stage_schema
from cycle.core.schemas import StageConfig
from cycle.core.stages import discover_stages, load_stage

ROOT = Path(__file__).resolve().parents[2]
CONF = find_config_dir()
STAGES = sorted(discover_stages())
README = (ROOT / "README.md").read_text(encoding="utf-8")
TESTS = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))


def _header(path: Path) -> str:
    """The comment lines a config file starts with."""
    lines = path.read_text(encoding="utf-8").splitlines()
    end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "\n".join(lines[:end])


def test_the_readme_has_the_section_and_stages_are_found() -> None:
    assert "## Adding a stage" in README
    assert {"build_data", "train_reviewer", "rlloop", "pipeline"} <= set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_entry_point_and_config(stage: str) -> None:
    assert callable(load_stage(stage))
    config = CONF / f"{stage}.yaml"
    assert config.is_file(), f"no conf/{stage}.yaml"
    assert re.search(rf"\bcycle {stage}\b", _header(config)), f"conf/{stage}.yaml: no example"


@pytest.mark.parametrize("stage", STAGES)
def test_its_package_registers_its_schema(stage: str) -> None:
    dist = discover_stages()[stage].dist
    assert dist is not None
    registers = {ep.dist.name for ep in entry_points(group=SCHEMA_GROUP) if ep.dist is not None}
    assert dist.name == "cycle-core" or dist.name in registers, f"{dist.name}: no {SCHEMA_GROUP}"
    schema = stage_schema(stage)
    assert issubclass(schema, StageConfig)
    assert get_type_hints(load_stage(stage))["cfg"] is schema, f"{stage}: cfg is not its schema"


@pytest.mark.parametrize("stage", STAGES)
def test_it_pulls_in_its_recipes(stage: str) -> None:
    text = (CONF / f"{stage}.yaml").read_text(encoding="utf-8")
    assert f"optional recipe/{stage}@_global_: ${{model}}" in text
    assert f"optional recipe/{stage}/experiment@_global_: ${{experiment}}" in text


def test_every_recipe_folder_belongs_to_a_stage() -> None:
    folders = sorted(p.name for p in (CONF / "recipe").iterdir() if p.is_dir())
    assert folders
    for name in folders:
        assert name in STAGES, f"conf/recipe/{name}: no such stage"
        for sub in (CONF / "recipe" / name).iterdir():
            assert sub.suffix == ".yaml" or sub.name == "experiment", (
                f"conf/recipe/{name}/{sub.name}"
            )


@pytest.mark.parametrize("stage", STAGES)
def test_it_is_listed_and_a_test_runs_it(stage: str) -> None:
    stage_list = README.split("## What a stage is", 1)[1].split("```", 1)[0]
    assert f"`{stage}`" in stage_list, f"{stage} is not in README's stage list"
    ran = re.search(rf"\b(?:run_stage|run_tiny_stage)\(\s*\"{stage}\"", TESTS)
    assert ran, f"no test runs {stage}"
