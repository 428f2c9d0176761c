"""Two-process DDP (gloo) training through every way `cycle` is started: Lightning re-executes
`cycle` for rank 1 the same way it does for DeepSpeed's ranks on a GPU node."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cycle.core.io import atomic_write_jsonl

# The two-rank runs share one xdist worker: one at a time, not four processes on two cores.
pytestmark = pytest.mark.xdist_group("ddp")

# One epoch: 8 rows / batch 2 / 2 ranks = 2 steps per rank (4 on a single process).
DDP = ["trainer=ddp_cpu", "trainer.devices=2", "trainer.max_epochs=1", "logger=csv"]


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"Count to {i}."},
                {"role": "assistant", "content": " ".join(str(k) for k in range(i + 1))},
            ]
        }
        for i in range(8)
    ]
    return atomic_write_jsonl(tmp_path_factory.mktemp("ddp") / "chats.jsonl", rows)


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    return out


def _assert_both_ranks_finished(run_dir: Path, stage: str) -> None:
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["metrics"]["steps"] == 2
    assert (run_dir / "model" / "model.safetensors").is_file()
    rank1 = (run_dir / "train_ddp_process_1.log").read_text()
    assert f"{stage}: finished on local_rank 1" in rank1


def _only_run_dir(root: Path, stage: str) -> Path:
    """Rank 1 re-executes into rank 0's run directory: there is exactly one."""
    dirs = [p.parent for p in (root / "runs" / stage).rglob("manifest.json")]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_console_script_trains_on_two_ranks(chats, tmp_path) -> None:
    script = Path(sys.executable).with_name("cycle")
    _run(
        [str(script), "train_lm", *DDP, f"data_files=[{chats}]", f"paths.root_dir={tmp_path}"],
        cwd=tmp_path,
    )
    _assert_both_ranks_finished(_only_run_dir(tmp_path, "train_lm"), "train_lm")


def test_pipeline_step_trains_on_two_ranks(chats, tmp_path) -> None:
    """A pipeline step is `python -m cycle.core.cli <stage>` in a child process, run in
    runs/<step name>/<experiment>."""
    step = "', '".join([*DDP[:3], f"data_files=[{chats}]"])
    _run(
        [
            sys.executable,
            "-m",
            "cycle.core.cli",
            "pipeline",
            f"paths.root_dir={tmp_path}",
            "logger=csv",
            "~steps",
            f"+steps={{lm: {{stage: train_lm, enabled: true, overrides: ['{step}']}}}}",
        ],
        cwd=tmp_path,
    )
    _assert_both_ranks_finished(tmp_path / "runs" / "lm" / "default", "train_lm")
    pipeline = json.loads((_only_run_dir(tmp_path, "pipeline") / "manifest.json").read_text())
    assert pipeline["status"] == "complete" and pipeline["metrics"]["lm/steps"] == 2


def test_isolated_rlloop_train_step_trains_on_two_ranks(tiny_lm, tmp_path, monkeypatch) -> None:
    """`cycle rlloop isolate_steps=true`: the train step is `python -m cycle.rlloop.loop` whose
    Lightning launches rank 1 from that command."""
    import datasets

    from cycle.core.config import load_stage_config, read_stage_config
    from cycle.core.io import atomic_write_json
    from cycle.core.models import save_hf_folder
    from cycle.rlloop.loop import run_step
    from cycle.rlloop.steps import marker

    save_hf_folder(*tiny_lm, tmp_path / "policy")
    cfg = load_stage_config(
        "rlloop",
        [*DDP, f"paths.root_dir={tmp_path}", f"policy={tmp_path / 'policy'}", "isolate_steps=true"],
    )
    run_dir = tmp_path / "runs" / "rlloop" / "default"
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(dataclasses.asdict(cfg)))
    rows = [
        {
            "prompt_id": f"p{i}",
            "prompt": [{"role": "user", "content": "Write."}],
            "chosen": [{"role": "assistant", "content": f"A clear paper {i}."}],
            "rejected": [{"role": "assistant", "content": f"zz qq {i}"}],
            "chosen_reward": 6.0,
            "rejected_reward": 3.0,
        }
        for i in range(4)
    ]
    datasets.Dataset.from_list(rows).save_to_disk(str(run_dir / "round_0" / "pairs"))
    atomic_write_json(marker(run_dir / "round_0", "pairs"), {"pairs": len(rows)})
    monkeypatch.chdir(tmp_path)
    result = run_step(read_stage_config("rlloop", run_dir / "config.yaml"), run_dir, "train", 0)
    assert result["trained"] and result["steps"] == 2  # 4 pairs, batch 1, 2 ranks
    assert (run_dir / "round_0" / "policy" / "model.safetensors").is_file()
    assert os.environ.get("LOCAL_RANK") is None  # the loop's own process stayed single
