"""A composed config that names an unknown choice, a GPU trainer on a CPU machine or an
uncached model fails before any run directory, data or model, with one line naming the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from cycle.core.config import load_stage_config
from cycle.core.errors import ConfigError
from cycle.core.preflight import preflight
from cycle.core.stages import run_stage


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("peft.method=qlora", "peft.method=qlora is not one of: none, lora, lora_ga"),
        ("trainer.precision=bf17", "trainer.precision=bf17 is not one of: 32-true,"),
        ("model=llama3_1_8b", "`hf download meta-llama/Llama-3.1-8B-Instruct`"),
    ],
)
def test_bad_config_fails_before_the_run_starts(override, message, tmp_path) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("`", ".")):
        run_stage("train_lm", ["data_files=[x]", override], run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_gpu_trainer_on_cpu_names_the_cpu_presets(tmp_path) -> None:
    with pytest.raises(ConfigError, match="needs a CUDA GPU .* use trainer=cpu"):
        preflight(load_stage_config("train_lm", ["data_files=[x]", "trainer=deepspeed_zero2"]))
    # a stage that does not train leaves an experiment's trainer preset out
    preflight(load_stage_config("generate", ["experiment=researcher_12b"]))


def test_cli_prints_one_line(tmp_path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cycle.core.cli", "train_lm", "data_files=[x]", "peft.method=qlora"]
        + [f"paths.root_dir={tmp_path}", "logger=csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1] == (
        "cycle train_lm: peft.method=qlora is not one of: none, lora, lora_ga"
    )
    assert "Traceback" not in out.stderr
