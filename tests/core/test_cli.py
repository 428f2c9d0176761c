import subprocess
import sys

import pytest

from cycle.core.cli import main
from cycle.core.stages import discover_stages


def test_help_lists_every_installed_stage(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    stages = discover_stages()
    assert "train_lm" in stages
    for name in stages:
        assert name in out


def test_unknown_stage_exits_with_usage(capsys):
    with pytest.raises(SystemExit) as err:
        main(["no_such_stage"])
    assert err.value.code == 2
    assert "unknown stage 'no_such_stage'" in capsys.readouterr().err


def test_console_script_finds_the_config_from_another_directory(tmp_path):
    """The installed `cycle` script works outside the checkout (config found from the package)."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cycle.core.cli",
            "train_lm",
            "--cfg",
            "job",
            f"paths.root_dir={tmp_path}",
            "data_files=[x]",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "data_files:" in out.stdout and "trainer:" in out.stdout


def test_multirun_runs_one_job_per_value(tmp_path):
    """`cycle <stage> -m key=a,b` sweeps on CPU: one run directory per value, named by its override."""
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "prompt": "Title:"}\n')
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cycle.core.cli",
            "sample",
            "-m",
            "sampling.temperature=0.4,0.8",
            "prompts_file=p.jsonl",
            f"paths.root_dir={tmp_path}",
            "sampling.max_new_tokens=2",
            "logger=csv",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (sweep,) = (tmp_path / "runs" / "sample" / "multirun" / "default").iterdir()
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_sampling.temperature=0.4", "1_sampling.temperature=0.8"]
    assert "| sampling.temperature | status |" in (sweep / "comparison.md").read_text()
    for job in jobs:
        assert (sweep / job / "samples.jsonl").read_text().count("\n") == 1
        assert '"status": "complete"' in (sweep / job / "manifest.json").read_text()


def test_wandb_runs_carry_group_job_type_and_tags(tmp_path):
    from cycle.core.schemas import LoggerConfig
    from cycle.core.tracking import build_logger, finish

    cfg = LoggerConfig(group="tiny", job_type="simpo", run_name="simpo/x", tags=["simpo.beta=2.0"])
    logger = build_logger(cfg, tmp_path)
    run = logger.experiment
    assert (run.group, run.job_type, list(run.tags)) == ("tiny", "simpo", ["simpo.beta=2.0"])
    finish(logger)


def test_stage_help_lists_group_options_without_schemas(capsys):
    main(["train_lm", "--help"])
    out = capsys.readouterr().out
    assert "usage: cycle train_lm" in out and "causal-LM SFT" in out
    assert "  peft: lora, lora_ga, none\n" in out and "schema" not in out


def test_stage_help_and_job_config_show_only_what_the_stage_reads(capsys, tmp_path):
    main(["build_data", "--help"])
    text = capsys.readouterr().out
    assert "  data: " in text and "  model: " in text and "  trainer: " not in text
    main(["train_reviewer", "--help"])
    assert "  trainer: " in capsys.readouterr().out
    main(["build_data", "--cfg", "job", f"paths.root_dir={tmp_path}", "trainer=gpu"])
    job = capsys.readouterr().out
    assert "\ndata:" in job and "\ntrainer:" not in job and "\nreview:" not in job


def test_a_typo_in_a_stage_node_is_one_line(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["generate", "--cfg", "job", f"paths.root_dir={tmp_path}", "+max_prompt=3"])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_prompt" in err and "GenerateConfig" in err
