"""The loop's steps. Each takes the typed config (``RLLoopConfig``), the run directory and the
round (None = baseline), does its work, and returns what its marker ``<dir>/steps/<step>.json``
records."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from statistics import fmean
from typing import Any

from cycle.core.io import atomic_dir, atomic_write_json, atomic_write_jsonl, read_jsonl
from cycle.core.runs import seed_everything
from cycle.core.steps import read_marker
from cycle.researcher.protocol import GeneratedPaper
from cycle.rlloop.prompts import load_prompts, round_prompts
from cycle.rlloop.rollout import free_memory, review_papers, sample_papers, score_stats
from cycle.rlloop.schemas import RLLoopConfig
from cycle.rlloop.timing import timed

log = logging.getLogger(__name__)

EVAL_SEED_OFFSET = 10_000  # held-out sampling seed = seed + this, the same in every round
ISOLATED_ENV = "CYCLE_RLLOOP_ISOLATED_STEP"  # set in the child process of an isolated step


def round_dir(run_dir: Path, t: int) -> Path:
    return run_dir / f"round_{t}"


def step_dir(run_dir: Path, t: int | None) -> Path:
    return run_dir / "baseline" if t is None else round_dir(run_dir, t)


def marker(step_dir: Path, step: str) -> Path:
    return step_dir / "steps" / f"{step}.json"


def step_result(step_dir: Path, step: str) -> dict[str, Any] | None:
    """What a finished step's marker records; None while the step has not finished."""
    return read_marker(marker(step_dir, step))


def _policy_in(run_dir: Path, cfg: RLLoopConfig, t: int) -> str:
    """P_t: the SFT policy for round 0, else what round t-1's train step left."""
    if t == 0:
        return cfg.policy
    prev = step_result(round_dir(run_dir, t - 1), "train")
    if prev is None:
        raise RuntimeError(f"round {t - 1} has no finished train step; cannot start round {t}")
    return str(prev["policy"])


def step_sample(cfg: RLLoopConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    prompts = round_prompts(cfg, t)
    rows = sample_papers(
        cfg,
        _policy_in(run_dir, cfg, t),
        prompts,
        cfg.sampling.n,
        cfg.seed + t,
        d / "samples.jsonl",
    )
    return {
        "prompts": len(prompts),
        "samples": len(rows),
        "complete_papers": sum(bool(r.get("complete")) for r in rows),
    }


def step_review(cfg: RLLoopConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    reviews = review_papers(cfg, read_jsonl(d / "samples.jsonl"), d / "reviews.jsonl")
    return score_stats(reviews)


def step_pairs(cfg: RLLoopConfig, run_dir: Path, t: int) -> dict[str, Any]:
    from cycle.rlloop.pairs import best_worst_pairs
    from cycle.rlloop.preference_data import pairs_to_dataset

    d = round_dir(run_dir, t)
    prompts = {p.prompt_id: p for p in round_prompts(cfg, t)}
    rewards = {r["id"]: r["reward"] for r in read_jsonl(d / "reviews.jsonl")}
    groups: dict[str, list[tuple[Any, float | None]]] = {}
    for row in read_jsonl(d / "samples.jsonl"):
        prompt = prompts[row["prompt_id"]].messages
        turns = GeneratedPaper.from_row(row).messages(prompt)[len(prompt) :]
        groups.setdefault(row["prompt_id"], []).append((turns, rewards.get(row["id"])))
    result = best_worst_pairs(groups)
    dataset = pairs_to_dataset(result.pairs, {k: p.messages for k, p in prompts.items()})
    atomic_write_jsonl(d / "pairs.jsonl", dataset.to_list())
    atomic_write_jsonl(
        d / "pairs_dropped.jsonl",
        [{"prompt_id": k, "reason": v} for k, v in result.dropped.items()],
    )
    with atomic_dir(d / "pairs") as tmp:
        dataset.save_to_disk(str(tmp))
    counts = dict(result.counts)
    log.info(
        "round %d: %d pairs from %d prompts; dropped %s", t, len(result.pairs), len(groups), counts
    )
    return {
        "pairs": len(result.pairs),
        "mean_margin": fmean(p.margin for p in result.pairs) if result.pairs else None,
        **{f"dropped_{k}": v for k, v in counts.items()},
    }


def _train_logger(cfg: RLLoopConfig, save_dir: Path, t: int, isolated: bool) -> Any:
    """Per-step training metrics: a W&B run of their own in an isolated step; in the loop's
    process (where W&B has one run, the loop's) a CSV file in ``round_<t>/train/csv``."""
    from cycle.core.tracking import stage_logger

    name = cfg.logger.name if isolated else "csv"
    return stage_logger(cfg, save_dir, name=name, run_name=f"{cfg.logger.run_name}/round_{t}/train")


def step_train(cfg: RLLoopConfig, run_dir: Path, t: int) -> dict[str, Any]:
    import datasets

    from cycle.core.models import policy_model_config
    from cycle.core.tracking import finish
    from cycle.core.training.fit import fit_spec
    from cycle.rlloop.simpo_module import dropped_rows, fit_simpo

    d = round_dir(run_dir, t)
    policy_in = _policy_in(run_dir, cfg, t)
    n_pairs = (step_result(d, "pairs") or {}).get("pairs", 0)
    if n_pairs == 0 or not cfg.train.enabled:
        reason = "training disabled (train.enabled=false)" if n_pairs else "no preference pairs"
        log.warning("round %d: %s; P_%d = P_%d", t, reason, t + 1, t)
        return {"trained": False, "reason": reason, "policy": policy_in, "policy_in": policy_in}
    pairs = datasets.load_from_disk(str(d / "pairs"))
    seed_everything(cfg.seed + t)
    logger = _train_logger(cfg, d / "train", t, isolated=bool(os.environ.get(ISOLATED_ENV)))
    try:
        with timed("simpo_fit"):
            spec = fit_spec(cfg, model=policy_model_config(cfg.model, policy_in))
            result = fit_simpo(
                spec,
                cfg.simpo,
                cfg.train,
                d / "train",
                pairs,
                export_dir=d / "policy",
                logger=logger,
            )
    finally:
        finish(logger)
    atomic_write_jsonl(d / "untrainable_pairs.jsonl", dropped_rows(result.dropped))
    free_memory()
    return {"trained": True, "policy": str(d / "policy"), "policy_in": policy_in, **result.metrics}


def eval_enabled(cfg: RLLoopConfig) -> bool:
    """Held-out evaluation is on unless ``eval.max_prompts`` is 0 (null = the whole split)."""
    return cfg.eval.max_prompts is None or cfg.eval.max_prompts > 0


def evaluate_policy(cfg: RLLoopConfig, policy: str, out_dir: Path) -> dict[str, Any]:
    """Papers of ``policy`` on the held-out prompts, reviewed; empty dict when disabled."""
    if not eval_enabled(cfg):
        return {}
    prompts = load_prompts(cfg, cfg.eval.split, cfg.eval.max_prompts)
    samples = sample_papers(
        cfg,
        policy,
        prompts,
        cfg.eval.papers_per_prompt,
        cfg.seed + EVAL_SEED_OFFSET,
        out_dir / "samples.jsonl",
    )
    return {
        "prompts": len(prompts),
        **score_stats(review_papers(cfg, samples, out_dir / "reviews.jsonl")),
    }


def step_evaluate(cfg: RLLoopConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    train = step_result(d, "train") or {}
    stats = evaluate_policy(cfg, train["policy"], d / "eval")
    metrics = {
        "round": t,
        "policy": t + 1,
        "policy_in": train.get("policy_in"),
        "policy_out": train["policy"],
        "sample": step_result(d, "sample"),
        "review": step_result(d, "review"),
        "pairs": step_result(d, "pairs"),
        "train": train,
        "eval": stats,
    }
    atomic_write_json(d / "metrics.json", metrics)
    return stats


def step_baseline(cfg: RLLoopConfig, run_dir: Path, t: int | None = None) -> dict[str, Any]:
    d = step_dir(run_dir, None)
    stats = evaluate_policy(cfg, cfg.policy, d / "eval")
    atomic_write_json(d / "metrics.json", {"policy": 0, "policy_out": cfg.policy, "eval": stats})
    return stats


STEP_FUNCTIONS: dict[str, Callable[[RLLoopConfig, Path, Any], dict[str, Any]]] = {
    "sample": step_sample,
    "review": step_review,
    "pairs": step_pairs,
    "train": step_train,
    "evaluate": step_evaluate,
    "baseline": step_baseline,
}
