"""Stages find their inputs where the upstream run recorded them, whatever its overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cycle.core.config import compose_stage
from cycle.core.stages import run_stage
from cycle.core.upstream import build_data_command, recorded_artifact, stage_command


def _manifest(run_dir: Path, status: str, updated: str, **artifacts: str) -> None:
    run_dir.mkdir(parents=True)
    for path in artifacts.values():
        (run_dir / path).mkdir()
    arts = {name: {"path": path, "sha256": "x"} for name, path in artifacts.items()}
    (run_dir / "manifest.json").write_text(
        json.dumps({"status": status, "updated": updated, "artifacts": arts})
    )


def test_latest_complete_run_wins(tmp_path) -> None:
    root = tmp_path / "build_data" / "x"
    _manifest(root / "a=1", "complete", "2026-01-01T00:00:00", research14k="research14k")
    _manifest(root / "a=2", "complete", "2026-01-02T00:00:00", research14k="research14k")
    _manifest(root / "a=3", "failed", "2026-01-03T00:00:00", research14k="research14k")
    _manifest(root / "a=4.previous-abc", "complete", "2026-01-04T00:00:00", research14k="r14k")
    found = recorded_artifact(tmp_path, "build_data", "x", "research14k")
    assert found == (root / "a=2" / "research14k").absolute()
    assert recorded_artifact(tmp_path, "build_data", "x", "review5k") is None
    assert recorded_artifact(tmp_path, "build_data", "y", "research14k") is None
    # a single job sent through a launcher (-m launcher=slurm) counts; a sweep's trials do not
    sweeps = tmp_path / "build_data" / "multirun" / "x"
    _manifest(sweeps / "t1" / "0_", "complete", "2026-01-05T00:00:00", research14k="research14k")
    _manifest(sweeps / "t2" / "0_a=1", "complete", "2026-01-06T00:00:00", research14k="r")
    _manifest(sweeps / "t2" / "1_a=2", "complete", "2026-01-06T00:00:00", research14k="r")
    found = recorded_artifact(tmp_path, "build_data", "x", "research14k")
    assert found == (sweeps / "t1" / "0_" / "research14k").absolute()


def test_hints_name_the_command_to_run() -> None:
    assert build_data_command("default", "review5k") == "cycle build_data"
    assert build_data_command("tiny", "review5k") == "cycle build_data experiment=tiny"
    assert (
        build_data_command("reviewer_123b", "review5k")
        == "cycle build_data data=review5k experiment=reviewer_123b"
    )
    assert stage_command("train_researcher", "default") == "cycle train_researcher"


def test_missing_upstream_names_the_right_command(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"run `cycle build_data` first"):
        run_stage("train_reviewer", [f"paths.root_dir={tmp_path}"], run_dir=tmp_path / "a")
    with pytest.raises(
        FileNotFoundError, match=r"`cycle build_data data=research14k experiment=researcher_12b`"
    ):
        run_stage(
            "generate",
            [f"paths.root_dir={tmp_path}", "experiment=researcher_12b"],
            run_dir=tmp_path / "b",
        )
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["status"] == "failed"
    assert manifest["error"].startswith("FileNotFoundError: no dataset at ")
    assert "\n" not in manifest["error"]


def test_build_data_with_overrides_chains_into_every_downstream_stage(tmp_path) -> None:
    common = [f"paths.root_dir={tmp_path}", "experiment=tiny", "logger=csv"]
    run_stage("build_data", [*common, "token_stats=false"], run_dir=None)
    built = tmp_path / "runs" / "build_data" / "tiny" / "token_stats=false"
    assert (built / "review5k").is_dir() and (built / "research14k").is_dir()
    for stage, key, artifact in [
        ("train_reviewer", "review5k_dir", "review5k"),
        ("evaluate_reviewer", "review5k_dir", "review5k"),
        ("train_researcher", "research14k_dir", "research14k"),
        ("generate", "research14k_dir", "research14k"),
        ("rlloop", "research14k_dir", "research14k"),
    ]:
        cfg = compose_stage(stage, common)
        assert Path(cfg[key]) == (built / artifact).absolute(), stage
    # one more hop, again with overrides: the SFT policy is what rlloop and generate start from
    run_stage("train_researcher", [*common, "max_examples=2", "trainer.max_steps=1"], run_dir=None)
    trained = next((tmp_path / "runs" / "train_researcher" / "tiny").glob("*/model"))
    for stage in ("rlloop", "simpo", "generate"):
        assert Path(compose_stage(stage, common).policy) == trained.absolute(), stage


def test_generate_samples_the_rl_policy_of_its_experiment(tmp_path) -> None:
    """`cycle generate experiment=cycle_12b` samples rlloop's final policy once it exists,
    the SFT policy of researcher_12b before that."""
    common = [f"paths.root_dir={tmp_path}", "experiment=cycle_12b"]
    sft = Path(compose_stage("generate", common).policy)
    assert sft.parts[-3:] == ("train_researcher", "researcher_12b", "model")
    run = tmp_path / "runs" / "rlloop" / "cycle_12b"
    _manifest(run, "complete", "2026-01-01T00:00:00", final_policy="final_policy")
    assert Path(compose_stage("generate", common).policy) == (run / "final_policy").absolute()
    assert Path(compose_stage("rlloop", common).policy) == sft  # P_0 stays the SFT policy


def test_an_edited_upstream_artifact_fails_the_downstream_stage_in_one_line(tmp_path) -> None:
    """A valid but edited file in a recorded artifact is not used silently."""
    import subprocess
    import sys

    from cycle.core.runs import Run

    upstream = Run.open(tmp_path / "runs" / "build_data" / "default", "build_data", {"a": 1})
    data = upstream.path("research14k", "papers", "hf", "dataset_dict.json")
    data.write_text('{"splits": ["train", "test"]}')
    upstream.add_artifact("research14k", data.parents[2])
    upstream.mark("complete")
    upstream.close()
    data.write_text('{"splits": ["test", "train"]}')  # edited, still valid
    out = subprocess.run(
        [sys.executable, "-m", "cycle.core.cli", "generate", f"paths.root_dir={tmp_path}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr[-2000:]
    (line,) = out.stderr.strip().splitlines()
    assert "research14k" in line and "changed since" in line and "`cycle build_data`" in line
