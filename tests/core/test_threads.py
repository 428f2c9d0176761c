"""``threads=N`` sets torch's CPU threads in the stage process before the stage runs."""

from __future__ import annotations

import torch

from cycle.core import stages
from cycle.core.config import compose_stage


def test_threads_setting_applies_before_the_stage_runs(tmp_path, monkeypatch) -> None:
    seen = []
    monkeypatch.setattr(
        stages, "load_stage", lambda name: lambda cfg, run: seen.append(torch.get_num_threads())
    )
    before = torch.get_num_threads()
    cfg = compose_stage("generate", [f"paths.root_dir={tmp_path}", "threads=3", "logger=csv"])
    try:
        cfg_run = compose_stage(
            "generate", [f"paths.root_dir={tmp_path}", "threads=3", "logger=csv"]
        )
        stages.execute("generate", cfg_run, tmp_path / "run")
    finally:
        torch.set_num_threads(before)
    assert seen == [3]
    # a CPU setting, not part of the run directory: a rerun with another count resumes the run
    plain = compose_stage("generate", [f"paths.root_dir={tmp_path}"])
    assert plain.threads is None and plain.run_name == cfg.run_name == "default"
