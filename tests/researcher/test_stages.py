"""``cycle train_researcher`` and ``cycle generate`` end to end on the tiny model (CPU, short)."""

from __future__ import annotations

import logging

import pytest

from cycle.core.disclosure import has_disclosure, has_simulated_disclosure
from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.data.paper_conversation import Outline
from cycle.data.records import Paper, Reference
from cycle.researcher.protocol import GeneratedPaper


def _write_research14k(root, n_refs: int = 3, abstract: str = "We study {j}.") -> None:
    from datasets import Dataset

    from cycle.data.features import RESEARCH14K
    from cycle.data.research14k import research14k_row
    from cycle.data.writer import save_splits

    rows = []
    for i in range(4):
        refs = [
            Reference(
                key=f"k{i}{j}",
                title=f"Work {j}",
                abstract=abstract.format(j=j),
                bibtex=f"@misc{{k{i}{j},\n}}",
            )
            for j in range(n_refs)
        ]
        paper = Paper(
            f"p{i}",
            f"Paper {i}",
            "We propose a method.",
            [
                ("Introduction", f"Intro~\\cite{{k{i}0}}."),
                ("Method", "We do \\textsc{it}."),
                ("Experiments", "It works."),
                ("Conclusion", "Done."),
            ],
            refs,
            date=f"2024-01-0{i + 1}",
        )
        outline = Outline(
            "Gap.",
            "Idea.",
            6,
            6,
            6,
            [{"name": "Main", "description": "Run it."}],
            [{"name": "Main", "result": {"table": [["acc"], ["1"]]}}],
        )
        rows.append(research14k_row(paper, outline))
    splits = {
        "train": Dataset.from_list(rows[:3], features=RESEARCH14K),
        "test": Dataset.from_list(rows[3:], features=RESEARCH14K),
    }
    save_splits(splits, root / "runs" / "build_data" / "tiny" / "research14k" / "papers", ["jsonl"])


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("researcher")
    _write_research14k(root)
    return root


def _overrides(root) -> list[str]:
    return ["experiment=tiny", f"paths.root_dir={root}", "logger=csv"]


def test_missing_data_names_the_command(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="cycle build_data experiment=tiny"):
        run_stage("generate", _overrides(tmp_path), run_dir=tmp_path / "run")


def test_a_prompt_longer_than_the_context_fails_before_generating(tmp_path) -> None:
    """max_references=null with a long bibliography: one line naming the max_references that fits
    (the tiny model's context_length is 2048), not thousands of prompt tokens sent anyway."""
    from cycle.core.errors import ConfigError

    abstract = "We study the {j}th kind of sparse attention for long inputs and what it costs."
    _write_research14k(tmp_path, n_refs=150, abstract=abstract)
    gen = [*_overrides(tmp_path), "max_references=null", "sampling.max_new_tokens=6"]
    with pytest.raises(ConfigError, match=r"context of 2048 tokens .*: set max_references=\d+ \("):
        run_stage("generate", gen, run_dir=tmp_path / "run")
    assert not (tmp_path / "run" / "papers.jsonl").exists()


def test_generate_with_base_model_then_train_then_generate_with_policy(
    root, tmp_path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="cycle.researcher.stages")
    gen = [*_overrides(root), "sampling.n=2", "sampling.max_new_tokens=6"]
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

    train = [
        *_overrides(root),
        "sft.max_length=160",
        "sft.truncation=random",  # the tiny default (end) would keep only the system prompt
        "trainer.max_epochs=2",
        "optim.lr=1e-2",
    ]
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
