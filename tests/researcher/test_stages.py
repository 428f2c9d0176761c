"""``cycle train_researcher`` and ``cycle generate`` end to end on the tiny model (CPU, short)."""

from __future__ import annotations

import logging

import pytest

from cycle.core.disclosure import has_disclosure, has_simulated_disclosure
from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.researcher.protocol import GeneratedPaper
from tests.factories.research14k import write_research14k
from tests.factories.stages import tiny_overrides


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("researcher")
    write_research14k(root)
    return root


def test_missing_data_names_the_command(run_tiny_stage) -> None:
    with pytest.raises(FileNotFoundError, match="cycle build_data experiment=tiny"):
        run_tiny_stage("generate")


def test_a_prompt_longer_than_the_context_fails_before_generating(tmp_path, run_tiny_stage) -> None:
    """max_references=null with a long bibliography: one line naming the max_references that fits
    (the tiny model's context_length is 2048), not thousands of prompt tokens sent anyway."""
    from cycle.core.errors import ConfigError

    abstract = "We study the {j}th kind of sparse attention for long inputs and what it costs."
    write_research14k(tmp_path, n_refs=150, abstract=abstract)
    with pytest.raises(ConfigError, match=r"context of 2048 tokens .*: set max_references=\d+ \("):
        run_tiny_stage("generate", "max_references=null", "sampling.max_new_tokens=6")
    assert not (tmp_path / "run" / "papers.jsonl").exists()


def test_generate_with_base_model_then_train_then_generate_with_policy(
    root, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="cycle.researcher.stages")
    gen = tiny_overrides(root, "sampling.n=2", "sampling.max_new_tokens=6")
    out = run_stage("generate", gen, run_dir=tmp_path / "base")
    assert "no trained policy" in caplog.text
    rows = read_jsonl(tmp_path / "base" / "papers.jsonl")
    assert [r["id"] for r in rows] == ["p3#0", "p3#1"] and out["prompts_generated_now"] == 1
    paper = GeneratedPaper.from_row(rows[0])
    assert paper.problems and paper.simulated  # a random model writes no paper: reported, not fatal
    tex = (tmp_path / "base" / "papers" / "p3#0.tex").read_text()
    assert (
        tex.startswith("\\documentclass") and has_disclosure(tex) and has_simulated_disclosure(tex)
    )
    assert (tmp_path / "base" / "report.md").exists()
    # Interrupted after the first sample: the prompt is redone, the later copy wins.
    papers_file = tmp_path / "base" / "papers.jsonl"
    papers_file.write_text(papers_file.read_text().splitlines(keepends=True)[0])
    again = run_stage("generate", [*gen, "resume=false"], run_dir=tmp_path / "base")
    assert again["prompts_generated_now"] == 1 and again["papers"] == 2
    again = run_stage("generate", [*gen, "resume=false"], run_dir=tmp_path / "base")
    assert again["prompts_generated_now"] == 0 and again["papers"] == 2

    train = tiny_overrides(
        root,
        "sft.max_length=160",
        "sft.truncation=random",  # the tiny default (end) would keep only the system prompt
        "trainer.max_epochs=2",
        "optim.lr=1e-2",
    )
    metrics = run_stage(
        "train_researcher", train, run_dir=root / "runs" / "train_researcher" / "tiny"
    )
    # A random 160-token window may hold no assistant token: that conversation is rejected, counted.
    assert metrics["train_examples"] + metrics["rejected_examples"] == 3
    assert metrics["steps"] == 2 * metrics["train_rows"]
    assert metrics["loss_last"] < metrics["loss_first"]
    assert (root / "runs" / "train_researcher" / "tiny" / "model" / "config.json").exists()

    caplog.clear()
    scorer = "scorer={_target_:tests.researcher.test_stages.length_score,_partial_:true}"
    out = run_stage("generate", [*gen, scorer], run_dir=tmp_path / "policy")
    assert "using the trained policy" in caplog.text
    rows = read_jsonl(tmp_path / "policy" / "papers.jsonl")
    (best,) = read_jsonl(tmp_path / "policy" / "selected.jsonl")
    assert (
        best["score"] == max(r["score"] for r in rows) == max(len(r["outline_text"]) for r in rows)
    )
    assert out["best_of_n/2"] == best["score"]


def length_score(papers: list[GeneratedPaper]) -> list[float]:
    """A stand-in reviewer for the scorer seam."""
    return [float(len(p.outline_text)) for p in papers]
