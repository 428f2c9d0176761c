"""``cycle rlloop`` on the tiny random policy with a stand-in reviewer: steps, artifacts, resume.

The reviewer seam (``review.generator``) takes ``HashReviewer``, which rates a paper by a hash of
its text, so every round has distinct rewards and real pairs without training a reviewer.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from cycle.core.generation.base import Completion, Generator
from cycle.core.io import read_jsonl, sha256_path
from cycle.core.stages import run_stage
from tests.factories.research14k import write_research14k
from tests.factories.stages import tiny_overrides

RATINGS = (1, 3, 5, 6, 8, 10)
# Four train papers (and one test paper) of two sections, two references each.
PAPERS = {
    "n_train": 4,
    "n_refs": 2,
    "sections": [("Experiments", "It works.")],
    "experiment": ("M", "Run.", "a"),
}


class HashReviewer(Generator):
    """A review document whose single rating is a hash of the prompt (the paper text)."""

    tokenizer = None
    built = 0  # instances made (review.keep_loaded)

    def __init__(self) -> None:
        type(self).built += 1

    def generate(self, prompts, sampling, n=None):
        out = []
        for prompt in prompts:
            text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            rating = RATINGS[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(RATINGS)]
            decision = "Accept (poster)" if rating >= 6 else "Reject"
            review = (
                f"## Summary\n\nA paper.\n\n## Rating\n\n{rating}\n\n**********\n"
                f"## Meta Review\n\nOk.\n\n## Paper Decision\n\n{decision}"
            )
            out.append([Completion(review, [], "stop") for _ in range(n or 1)])
        return out


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_lm):
    from cycle.core.models import save_hf_folder

    root = tmp_path_factory.mktemp("rlloop")
    write_research14k(root, **PAPERS)
    model, tokenizer = tiny_lm
    save_hf_folder(model, tokenizer, root / "runs" / "train_researcher" / "tiny" / "model")
    return root


def _overrides(root: Path, *extra: str) -> list[str]:
    return tiny_overrides(
        root,
        "review.generator={_target_:tests.rlloop.test_loop.HashReviewer}",
        "sampling.max_new_tokens=8",
        "prompts.batch_size=2",
        "review.batch_size=2",
        "optim.lr=1e-3",
        *extra,
    )


def _fingerprint(run_dir: Path) -> dict[str, str]:
    """Hashes of what must not depend on interruptions (paths made relative to the run)."""
    out = {}
    for t in (0, 1):
        d = run_dir / f"round_{t}"
        out[f"{t}/samples"] = sha256_path(d / "samples.jsonl")
        out[f"{t}/pairs"] = sha256_path(d / "pairs.jsonl")
        out[f"{t}/weights"] = sha256_path(d / "policy" / "model.safetensors")
        metrics = (d / "metrics.json").read_text().replace(str(run_dir), "<run>")
        out[f"{t}/metrics"] = hashlib.sha256(metrics.encode()).hexdigest()
    return out


def test_missing_policy_names_the_command(tmp_path) -> None:
    write_research14k(tmp_path, **PAPERS)
    with pytest.raises(FileNotFoundError, match="cycle train_researcher experiment=tiny"):
        run_stage("rlloop", _overrides(tmp_path), run_dir=tmp_path / "run")


def test_missing_reviewer_names_the_command(root, tmp_path) -> None:
    overrides = [o for o in _overrides(root) if not o.startswith("review.generator")]
    with pytest.raises(FileNotFoundError, match="cycle train_reviewer experiment=tiny"):
        run_stage("rlloop", overrides, run_dir=tmp_path / "run")


def test_no_rl_ablation_evaluates_only_the_sft_policy(root, tmp_path) -> None:
    run_dir = tmp_path / "run"
    out = run_stage("rlloop", _overrides(root, "rounds=0", "eval.max_prompts=1"), run_dir=run_dir)
    (review,) = read_jsonl(run_dir / "baseline" / "eval" / "reviews.jsonl")
    assert review["id"] == "p4#0"  # the held-out (test split) prompt
    assert (
        out["rounds"] == 0
        and out["final/mean_score"] == review["reward"] == out["baseline/mean_score"]
    )
    assert out["final/accept_rate"] == (1.0 if review["decision"] == "Accept" else 0.0)
    assert not list(run_dir.glob("round_*"))
    assert "| P_0 |" in (run_dir / "report.md").read_text()


def test_each_step_says_where_its_time_went(root, tmp_path) -> None:
    """Phases with their seconds and what the HF policy generated (the stand-in reviewer
    generates nothing through HF), in ``steps/<step>.timing.json``, the report and the manifest."""
    run_dir = tmp_path / "run"
    run_stage("rlloop", _overrides(root, "rounds=0", "eval.max_prompts=1"), run_dir=run_dir)
    phases = json.loads((run_dir / "baseline" / "steps" / "baseline.timing.json").read_text())
    by_name = {p["phase"]: p for p in phases}
    assert list(by_name) == ["load_policy", "write_papers", "load_reviewer", "review", "total"]
    written = by_name["write_papers"]
    assert written["sequences"] >= 1 and written["calls"] >= 1 and written["new_tokens"] >= 1
    assert written["decode_steps"] <= 8 * written["calls"]  # sampling.max_new_tokens=8
    assert "sequences" not in by_name["review"]
    assert by_name["total"]["seconds"] >= written["seconds"] > 0
    assert "| baseline | baseline | write_papers |" in (run_dir / "report.md").read_text()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["metrics"]["time/baseline/baseline_s"] == by_name["total"]["seconds"]


def test_interrupted_loop_resumes_to_the_same_artifacts(root, tmp_path, monkeypatch) -> None:
    import cycle.rlloop.steps as steps
    from cycle.rlloop.simpo_module import SimPOModule

    clean = run_stage("rlloop", _overrides(root), run_dir=tmp_path / "clean")
    clean_dir = tmp_path / "clean"
    for t in (0, 1):
        metrics = json.loads((clean_dir / f"round_{t}" / "metrics.json").read_text())
        assert metrics["pairs"]["pairs"] >= 1 and metrics["train"]["trained"]
        assert (
            metrics["pairs"]["pairs"]
            + sum(
                metrics["pairs"][f"dropped_{r}"]
                for r in ("tie", "missing_reward", "identical_text", "too_few_samples")
            )
            == metrics["sample"]["prompts"]
        )
        assert (
            len(read_jsonl(clean_dir / f"round_{t}" / "samples.jsonl"))
            == 3 * metrics["sample"]["prompts"]
        )
    # Disjoint halves of the 4 training prompts, one per round.
    prompts = [
        {r["prompt_id"] for r in read_jsonl(clean_dir / f"round_{t}" / "samples.jsonl")}
        for t in (0, 1)
    ]
    assert len(prompts[0]) == len(prompts[1]) == 2 and not prompts[0] & prompts[1]
    assert clean["rounds"] == 2 and "final/mean_score" in clean
    assert (clean_dir / "report.md").read_text().count("| P_") == 3  # P_0 (SFT), P_1, P_2
    assert (clean_dir / "rounds.png").stat().st_size > 0
    assert (clean_dir / "final_policy").resolve() == (clean_dir / "round_1" / "policy").resolve()
    # each round's own numbers are logged at its step (not P_0's empty placeholder row)
    logged = list(csv.DictReader((clean_dir / "csv" / "metrics.csv").open()))
    rounds = [r for r in logged if r.get("round")]
    assert [(int(float(r["step"])), int(float(r["round"]))) for r in rounds] == [(1, 0), (2, 1)]
    assert all(float(r["pairs"]) >= 1 and r["sample/mean_score"] for r in rounds)

    run_dir = tmp_path / "interrupted"
    # 1. Killed after sampling round 0, while reviewing (after one appended review batch).
    real_review = steps.review_papers
    calls = {"sample": 0}

    def crash_after_first_batch(cfg, samples, out):
        if out != run_dir / "round_0" / "reviews.jsonl":
            return real_review(cfg, samples, out)
        real_review(cfg, samples[:2], out)
        raise RuntimeError("killed while reviewing")

    monkeypatch.setattr(steps, "review_papers", crash_after_first_batch)
    with pytest.raises(RuntimeError, match="killed"):
        run_stage("rlloop", _overrides(root), run_dir=run_dir)
    assert (run_dir / "round_0" / "steps" / "sample.json").exists()
    assert not (run_dir / "round_0" / "steps" / "review.json").exists()
    assert len(read_jsonl(run_dir / "round_0" / "reviews.jsonl")) == 2
    monkeypatch.setattr(steps, "review_papers", real_review)

    # 2. Killed during round 0's training (second optimizer step).
    real_step = SimPOModule.training_step

    def crash_in_training(self, batch, batch_idx):
        if batch_idx == 1:
            raise RuntimeError("killed while training")
        return real_step(self, batch, batch_idx)

    monkeypatch.setattr(SimPOModule, "training_step", crash_in_training)
    real_sample = steps.sample_papers

    def counting_sample(*args, **kwargs):
        calls["sample"] += 1
        return real_sample(*args, **kwargs)

    monkeypatch.setattr(steps, "sample_papers", counting_sample)
    with pytest.raises(RuntimeError, match="killed"):
        run_stage("rlloop", _overrides(root), run_dir=run_dir)
    assert calls["sample"] == 0  # baseline and round 0 sampling were not redone
    assert (run_dir / "round_0" / "steps" / "pairs.json").exists()
    assert not (run_dir / "round_0" / "policy").exists()  # no half-written policy
    monkeypatch.setattr(SimPOModule, "training_step", real_step)

    # 3. The same command again finishes, with the artifacts of the uninterrupted run.
    resumed = run_stage("rlloop", _overrides(root), run_dir=run_dir)
    assert _fingerprint(run_dir) == _fingerprint(clean_dir)
    assert resumed == clean


def test_an_isolated_step_reads_the_config_the_loop_ran_with(root, tmp_path, caplog) -> None:
    """isolate_steps: a step's process (``python -m cycle.rlloop.loop``) types the run's recorded
    config.yaml again: the same config the loop runs with, typed nodes and `_target_` dict."""
    import dataclasses

    from omegaconf import OmegaConf

    from cycle.core.config import load_stage_config, read_stage_config
    from cycle.core.schemas import ModelConfig
    from cycle.rlloop.loop import run_step

    cfg = load_stage_config("rlloop", _overrides(root, "eval.max_prompts=1", "isolate_steps=true"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(dataclasses.asdict(cfg)))  # as Run.open
    again = read_stage_config("rlloop", run_dir / "config.yaml")
    assert again == cfg and isinstance(again.review.model, ModelConfig)
    assert again.review.generator == {"_target_": "tests.rlloop.test_loop.HashReviewer"}
    with caplog.at_level("INFO", logger="cycle.core.steps"):
        result = run_step(cfg, run_dir, "baseline", None)
    assert f"rlloop: cycle.rlloop.loop {run_dir} baseline" in caplog.text  # a child process
    (review,) = read_jsonl(run_dir / "baseline" / "eval" / "reviews.jsonl")
    assert result["papers"] == 1 and result["mean_score"] == review["reward"]


def test_a_phase_counts_the_graphs_torch_compile_made_in_it() -> None:
    import torch

    from cycle.rlloop.timing import recorded_phases, timed

    with timed("compiled"):
        torch.compile(lambda x: torch.sin(x) + 1, backend="eager")(torch.ones(3))
    last = recorded_phases()[-1]
    assert last["phase"] == "compiled" and last["compiled_graphs"] >= 1


def test_kept_models_are_loaded_once(root, tmp_path, monkeypatch) -> None:
    """review.keep_loaded: the baseline, the round's review and its evaluation share one reviewer.
    keep_policy_loaded: P_0's baseline evaluation and round 0's samples share one generator, and
    P_1's evaluation loads P_1. Without them: one of each per step."""
    import cycle.core.generation as generation

    loaded: list[str] = []
    real = generation.build_generator

    def counting(backend, model_cfg, **kw):
        loaded.append(str(model_cfg.name_or_path))
        return real(backend, model_cfg, **kw)

    monkeypatch.setattr(generation, "build_generator", counting)
    policies, reviewers = {}, {}
    for keep in (False, True):
        loaded.clear()
        HashReviewer.built = 0
        flags = [f"keep_policy_loaded={keep}", f"review.keep_loaded={keep}"]
        overrides = _overrides(root, "rounds=1", "eval.max_prompts=1", *flags)
        run_stage("rlloop", overrides, run_dir=tmp_path / f"keep_{keep}")
        policies[keep] = [p.replace(str(tmp_path / f"keep_{keep}"), "<run>") for p in loaded]
        reviewers[keep] = HashReviewer.built
    assert len(policies[False]) == 3 and policies[True] == policies[False][1:]
    assert policies[True][-1] == "<run>/round_0/policy"
    assert reviewers == {False: 3, True: 1}
