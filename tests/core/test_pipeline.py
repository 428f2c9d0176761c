"""The pipeline runs each step as `cycle <stage>` in its own run directory, reports, and resumes."""

from __future__ import annotations

import json

from cycle.core.io import atomic_write_jsonl
from cycle.core.stages import run_stage


def test_pipeline_runs_steps_writes_report_and_skips_finished_steps(tmp_path):
    prompts = atomic_write_jsonl(
        tmp_path / "p.jsonl", [{"id": "a", "prompt": "Title:"}, {"bad": 1}]
    )
    args = [
        f"paths.root_dir={tmp_path}",
        "logger=csv",
        "~steps",  # only this test's step
        "+steps={sample: {stage: sample, enabled: true, overrides: ['prompts_file="
        + str(prompts)
        + "', 'sampling.max_new_tokens=2']}}",
    ]
    first = run_stage("pipeline", args, run_dir=tmp_path / "pipe")
    assert first["steps"] == 1 and first["sample/sampled_now"] == 1
    step_dir = tmp_path / "runs" / "sample" / "default"
    manifest = json.loads((step_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["rejected"] == {"no 'prompt' field": 1}
    report = (tmp_path / "pipe" / "report.md").read_text()
    assert "| sample | sample | complete |" in report and "no 'prompt' field: 1" in report

    samples = step_dir / "samples.jsonl"
    stamp = samples.stat().st_mtime_ns  # a rerun must not redo the finished step
    pipe_manifest = (
        tmp_path / "pipe" / "manifest.json"
    )  # as if the pipeline had been killed after the step
    pipe_manifest.write_text(
        pipe_manifest.read_text().replace('"status": "complete"', '"status": "running"')
    )
    second = run_stage("pipeline", args, run_dir=tmp_path / "pipe")
    assert second["sample/sampled_now"] == 1
    assert samples.stat().st_mtime_ns == stamp
    assert "skipping" in (tmp_path / "pipe" / "logs" / "sample.log").read_text()
    samples.write_text("")  # a changed artifact is not trusted: the step runs again
    pipe_manifest.write_text(
        pipe_manifest.read_text().replace('"status": "complete"', '"status": "running"')
    )
    run_stage("pipeline", args, run_dir=tmp_path / "pipe")
    assert samples.read_text().startswith('{"id": "a"')


def test_step_reports_keep_working_image_links_in_the_pipeline_report(tmp_path):
    from cycle.core.pipeline import _rebase_images

    step = tmp_path / "runs" / "rlloop" / "tiny"
    step.mkdir(parents=True)
    (step / "report.md").write_text("![curve](rounds.png) ![web](https://x/y.png)")
    out = _rebase_images(step / "report.md", tmp_path / "runs" / "pipeline" / "tiny")
    assert out == "![curve](../../rlloop/tiny/rounds.png) ![web](https://x/y.png)"


def test_a_figure_a_step_report_shows_is_not_repeated(tmp_path):
    from cycle.core.pipeline import render_report

    step = tmp_path / "runs" / "rlloop" / "tiny"
    step.mkdir(parents=True)
    (step / "report.md").write_text("![curve](rounds.png)")
    (step / "rounds.png").write_bytes(b"png")
    (step / "other.png").write_bytes(b"png")
    artifacts = {
        "report": {"path": "report.md"},
        "rounds": {"path": "rounds.png"},
        "other": {"path": "other.png"},
    }
    steps = {"rlloop": {"stage": "rlloop", "status": "complete", "seconds": 1.0}}
    steps["rlloop"].update(dir=str(step), artifacts=artifacts)
    out = render_report(steps, tmp_path / "runs" / "pipeline" / "tiny")
    assert out.count("../../rlloop/tiny/rounds.png") == 1
    assert out.count("../../rlloop/tiny/other.png") == 1


def test_report_opens_with_what_the_cycle_learned(tmp_path):
    """Trained vs untrained reviewer, first-sample parse rates of base / SFT / final policy and
    the reviewer's score per round, from the steps' metrics (experiment=smol's learning report)."""
    from cycle.core.pipeline import render_report

    def step(stage: str, **metrics):
        return {"stage": stage, "status": "complete", "seconds": 1.0, "dir": str(tmp_path)} | {
            "metrics": metrics
        }

    steps = {
        "rlloop": step(
            "rlloop",
            **{"baseline/mean_score": 3.5, "round_0/sample_mean_score": 3.25, "round_0/pairs": 2},
            **{
                "round_1/sample_mean_score": 4.0,
                "round_1/eval_mean_score": 4.5,
                "round_1/pairs": 3,
            },
        ),
        "generate": step("generate", first_attempt_complete_rate=0.75, complete_papers=4, papers=4),
        "evaluate_reviewer": step(
            "evaluate_reviewer",
            **{"Trained/parse_rate": 1.0, "Trained/mae_n1": 1.25, "Untrained/parse_rate": 0.5},
            **{"Human/mae_n1": 1.0},
        ),
        "generate_base": step("generate", first_attempt_complete_rate=0.0, papers=4),
        "generate_sft": step("generate", first_attempt_complete_rate=0.5, papers=4),
    }
    out = render_report(steps, tmp_path)
    learning = out[out.index("## Learning") : out.index("## rlloop")]
    assert "| Trained | 1 | 1.25 | – |" in learning and "| Untrained | 0.5 | – | – |" in learning
    assert "Human" not in learning  # the human row has no parse rate
    rows = [ln for ln in learning.splitlines() if ln.startswith(("| base", "| SFT", "| final"))]
    assert rows == ["| base | 0/4 |", "| SFT (P_0) | 2/4 |", "| final | 3/4 |"]
    assert "| before (P_0) | – | 3.5 | – |" in learning
    assert "| 0 | 3.25 | – | 2 |" in learning and "| 1 | 4 | 4.5 | 3 |" in learning
