"""The resumable step runner: a marked step is not run again; a child step runs without SLURM's
task variables, logs its output and fails naming the step, its exit code and its log."""

from __future__ import annotations

import pytest

from cycle.core.steps import StepFailed, read_marker, run_child, run_resumable


def test_a_marked_step_is_not_run_again(tmp_path) -> None:
    marker = tmp_path / "steps" / "a.json"
    calls = []

    def work() -> dict:
        calls.append(1)
        return {"n": len(calls)}

    assert read_marker(marker) is None
    assert run_resumable(marker, work) == {"n": 1}
    assert run_resumable(marker, work) == {"n": 1} == read_marker(marker)
    assert run_resumable(marker, work, child=lambda: pytest.fail("ran a finished step")) == {"n": 1}
    assert calls == [1]


def test_a_child_step_runs_without_slurm_variables(tmp_path, monkeypatch) -> None:
    code = "import os; print(sorted(k for k in os.environ if k.startswith(('SLURM_', 'STEP_'))))"
    (tmp_path / "show_env.py").write_text(code)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("SLURM_NTASKS", "1")
    log = tmp_path / "child.log"
    run_child("show_env", [], step="x", announce="x", log_path=log, env={"STEP_FLAG": "1"})
    assert log.read_text().strip() == "['STEP_FLAG']"


def test_a_failed_child_step_names_the_step_its_exit_code_and_log(tmp_path, monkeypatch) -> None:
    (tmp_path / "fail.py").write_text("print('half done'); raise SystemExit(3)")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    log = tmp_path / "fail.log"
    with pytest.raises(StepFailed, match=f"step 'f' failed with exit code 3; see {log}"):
        run_child("fail", [], step="step 'f'", announce="step f", log_path=log)
    assert log.read_text() == "half done\n"
    with pytest.raises(StepFailed, match=r"^step 'f' failed with exit code 3$"):
        run_child("fail", [], step="step 'f'", announce="step f")
