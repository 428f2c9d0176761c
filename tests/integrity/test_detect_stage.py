"""``cycle detect`` end to end on tiny inputs: human JSONL, generated continuations, watermark."""

from __future__ import annotations

import json

import pytest

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from tests.factories.human_texts import SENTENCES, write_human_jsonl


def _overrides(tmp_path, cache_dir, *extra):
    return [
        f"paths.root_dir={tmp_path}",
        f"model.cache_dir={cache_dir}",  # reuse the session's tiny model
        "logger=csv",
        f"detect.human_files=[{write_human_jsonl(tmp_path / 'human.jsonl')}]",
        "detect.human_corpus=null",
        "detect.prefix_tokens=8",
        "detect.max_new_tokens=24",
        "detector.n_boot=20",
        "backend.batch_size=16",
        *extra,
    ]


def test_detect_stage_end_to_end(tmp_path, tiny_lm, tiny_model_cfg):
    out = run_stage(
        "detect", _overrides(tmp_path, tiny_model_cfg.cache_dir), run_dir=tmp_path / "run"
    )
    run = tmp_path / "run"
    for name in (
        "scores.jsonl",
        "calibration.json",
        "metrics.json",
        "report.md",
        "roc.png",
        "machine_texts.jsonl",
    ):
        assert (run / name).is_file(), name
    scores = read_jsonl(run / "scores.jsonl")
    assert sum(r["label"] == 0 for r in scores) == 12 and sum(r["label"] == 1 for r in scores) == 12
    assert all(r["n_tokens"] == r["total_tokens"] > 0 for r in scores)
    machine = read_jsonl(run / "machine_texts.jsonl")
    assert all(m["text"].startswith(m["prompt"]) for m in machine)
    rejected = read_jsonl(run / "rejected.jsonl")
    assert {r["id"] for r in rejected} >= {"line 13", "line 14"}  # bad format, bad JSON
    report = (run / "report.md").read_text()
    assert "| paper |" in report and "| review |" in report and "| all |" in report
    assert "DetectGPT protocol" in report
    cal = json.loads((run / "calibration.json").read_text())
    assert set(cal) == {"paper", "review"} and cal["paper"]["human"]["n"] == 3  # holdout half
    assert 0.0 <= out["paper/auroc"] <= 1.0 and out["n_human"] == 12
    # a rerun reuses the registered scores and machine texts
    again = run_stage(
        "detect", _overrides(tmp_path, tiny_model_cfg.cache_dir), run_dir=tmp_path / "run"
    )
    assert again["paper/auroc"] == pytest.approx(out["paper/auroc"])
    assert cal["paper"]["windowing"] == {
        "window": tiny_model_cfg.context_length,
        "context": 512,
        "max_tokens": None,
        "first_token": "context",
    }
    # the saved threshold holds only for the windowing it was fitted with
    reuse = [f"detector.calibration_file={run / 'calibration.json'}"]
    with pytest.raises(ValueError, match="was fitted with context=512 .* context=64"):
        run_stage(
            "detect",
            _overrides(tmp_path, tiny_model_cfg.cache_dir, *reuse, "detector.context=64"),
            run_dir=tmp_path / "other",
        )


def test_detect_stage_with_watermark(tmp_path, tiny_lm, tiny_model_cfg):
    out = run_stage(
        "detect",
        _overrides(
            tmp_path,
            tiny_model_cfg.cache_dir,
            "watermark=kgw",
            "watermark.delta=6.0",
            "detect.max_new_tokens=40",
            "detect.max_texts_per_format=3",
        ),
        run_dir=tmp_path / "run",
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    wm = metrics["watermark"]
    assert wm["machine_watermarked"]["mean_z"] > 4 > abs(wm["human"]["mean_z"])
    assert abs(wm["machine_plain"]["mean_z"]) < 3
    assert "key" not in wm["config"]  # the secret is not written to the report
    assert "watermark/criterion_mean_delta" in out
    assert "Effect on the Fast-DetectGPT criterion" in (tmp_path / "run" / "report.md").read_text()


def test_generated_paper_rows_read_like_human_papers(tmp_path):
    from cycle.data.records import Paper
    from cycle.integrity.texts import read_text_files

    row = {
        "id": "g#0",
        "title": "T",
        "abstract": "A",
        "sections": [["Intro", "x"], ["Method", "y"]],
    }
    path = tmp_path / "papers.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({"id": "empty", "format": "paper"}) + "\n")
    rows, rejects = read_text_files([str(path)], label=1)
    human = Paper(paper_id="h", title="T", abstract="A", sections=[("Intro", "x"), ("Method", "y")])
    assert [(r["id"], r["format"], r["label"], r["text"]) for r in rows] == [
        ("g#0", "paper", 1, human.text)
    ]
    assert [r["id"] for r in rejects] == ["line 2"]


def test_detect_stage_checks_exported_papers_for_the_disclosure(tmp_path, tiny_lm, tiny_model_cfg):
    from cycle.core.disclosure import append_disclosure

    body = " ".join(SENTENCES)
    rows = [
        {
            "id": "cs/01#0",
            "title": "A",
            "abstract": body,
            "sections": [["I", body]],
            "simulated": True,
        },
        {"id": "b#0", "title": "B", "abstract": body, "sections": [["I", body]], "simulated": True},
    ]
    (tmp_path / "papers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    exported = tmp_path / "papers"
    exported.mkdir()
    latex = "\\title{A}\n\\section{I}\nText."
    (exported / "cs_01#0.tex").write_text(append_disclosure(latex, simulated=False))
    (exported / "b#0.tex").write_text(append_disclosure(latex, simulated=True))
    (exported / "b#0.md").write_text("# B\n\nNo statement here.")
    out = run_stage(
        "detect",
        _overrides(
            tmp_path,
            tiny_model_cfg.cache_dir,
            f"detect.machine_files=[{tmp_path / 'papers.jsonl'}]",
            f"detect.disclosure_files=[{exported}/*.tex,{exported}/*.md,{tmp_path}/none/*.tex]",
        ),
        run_dir=tmp_path / "run",
    )
    assert (out["disclosure/checked"], out["disclosure/missing"]) == (3, 1)
    assert out["disclosure/missing_simulated"] == 1
    disclosure = json.loads((tmp_path / "run" / "metrics.json").read_text())["disclosure"]
    assert disclosure["missing"] == [f"{exported}/b#0.md"]
    assert disclosure["missing_simulated"] == [f"{exported}/cs_01#0.tex"]
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## AI-generation disclosure" in report and "Simulated results not declared" in report
    rejected = read_jsonl(tmp_path / "run" / "rejected.jsonl")
    assert {
        "source": f"{tmp_path}/none/*.tex",
        "id": f"{tmp_path}/none/*.tex",
        "reason": "no file matches",
    } in rejected
