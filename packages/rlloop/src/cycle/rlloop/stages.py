"""The rlloop stages: ``cycle simpo`` (one SimPO + NLL training) and ``cycle rlloop`` (the cycle)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from cycle.core.runs import Run
from cycle.core.upstream import stage_command
from cycle.rlloop.schemas import RLLoopConfig, SimPOStageConfig

log = logging.getLogger(__name__)


def simpo(cfg: SimPOStageConfig, run: Run) -> dict[str, Any]:
    """SimPO + NLL on ``cfg.pairs`` starting from ``cfg.policy``; exports ``<run>/policy``."""
    from cycle.core.models import policy_model_config
    from cycle.core.tracking import finish, stage_logger
    from cycle.core.training.fit import fit_spec
    from cycle.rlloop.simpo_module import dropped_rows, fit_simpo, load_pairs

    if cfg.export and run.done_artifact("policy"):
        return dict(run.metrics)
    if not (Path(cfg.policy) / "config.json").is_file():
        raise FileNotFoundError(
            f"no policy at {cfg.policy}: run "
            f"`{stage_command('train_researcher', cfg.upstream.train_researcher)}` "
            "first (or set policy=<HF folder>)"
        )
    pairs = load_pairs(cfg.pairs, stage_command("rlloop", cfg.upstream.rlloop))
    logger = stage_logger(cfg, run.dir)
    try:
        result = fit_simpo(
            fit_spec(cfg, model=policy_model_config(cfg.model, cfg.policy)),
            cfg.simpo,
            cfg.train,
            run.dir,
            pairs,
            export_dir=run.path("policy") if cfg.export else None,
            logger=logger,
        )
    finally:
        finish(logger)
    run.reject_rows(dropped_rows(result.dropped), "untrainable_pairs")
    if result.exported is not None:
        run.add_artifact("policy", result.exported)
    run.log_metrics(result.metrics)
    return result.metrics


def _held_out(cfg: RLLoopConfig) -> str:
    from cycle.rlloop.steps import eval_enabled

    if not eval_enabled(cfg):
        return "none (eval.max_prompts=0): only the round samples are scored"
    count = "all" if cfg.eval.max_prompts is None else f"the first {cfg.eval.max_prompts}"
    return (
        f"{count} Research-14K '{cfg.eval.split}' bibliographies, "
        f"{cfg.eval.papers_per_prompt} paper(s) each, the same prompts and sampling seed for every policy"
    )


def _register_round(run: Run, t: int) -> None:
    d = f"round_{t}"
    files = {
        "samples": "samples.jsonl",
        "reviews": "reviews.jsonl",
        "pairs": "pairs",
        "pairs_jsonl": "pairs.jsonl",
        "pairs_dropped": "pairs_dropped.jsonl",
        "metrics": "metrics.json",
    }
    for name, file in files.items():
        run.add_artifact(f"{d}/{name}", run.dir / d / file)
    if (run.dir / d / "policy").is_dir():
        run.add_artifact(f"{d}/policy", run.dir / d / "policy")


def rlloop(cfg: RLLoopConfig, run: Run) -> dict[str, Any]:
    """T rounds of sample -> review -> pairs -> train -> evaluate (see ``cycle.rlloop.loop``)."""
    import json

    from cycle.core.tracking import finish, stage_logger
    from cycle.rlloop.loop import ROUND_STEPS, run_step
    from cycle.rlloop.prompts import check_inputs
    from cycle.rlloop.report import DROP_KEYS, policy_rows, timing_rows, write_report
    from cycle.rlloop.steps import eval_enabled

    rounds = cfg.rounds
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    if rounds > cfg.prompts.slices:
        raise ValueError(
            f"{rounds} rounds need at least as many prompt slices (prompts.slices={cfg.prompts.slices})"
        )
    check_inputs(cfg)
    logger = stage_logger(cfg, run.dir)
    evaluate = eval_enabled(cfg)
    baseline = None
    if evaluate and cfg.eval.baseline:
        run_step(cfg, run.dir, "baseline", None)
        baseline = json.loads((run.dir / "baseline" / "metrics.json").read_text())
        run.add_artifact("baseline/metrics", run.dir / "baseline" / "metrics.json")
        logger.log_metrics(policy_rows(baseline, [])[0], step=0)
    per_round: list[dict[str, Any]] = []
    for t in range(rounds):
        for step in ROUND_STEPS:
            run_step(cfg, run.dir, step, t)
        metrics = json.loads((run.dir / f"round_{t}" / "metrics.json").read_text())
        per_round.append(metrics)
        _register_round(run, t)
        row = policy_rows(None, [metrics])[-1]  # [0] is P_0's (empty) placeholder row
        logger.log_metrics(
            {k: v for k, v in row.items() if isinstance(v, (int, float))}, step=t + 1
        )
        log.info("rlloop: round %d done: %s", t, {k: v for k, v in row.items() if "eval/" in k})
    # Drop counts over all rounds (set, not added: a resumed run must not count twice).
    for key in DROP_KEYS:
        run.rejected[f"pairs/{key}"] = sum(
            (m["pairs"] or {}).get(f"dropped_{key}", 0) for m in per_round
        )
    run.rejected["reviews/missing_reward"] = sum(
        (m["review"] or {}).get("missing_rewards", 0) for m in per_round
    )
    run.write_manifest()
    wandb_run = (
        logger.experiment if cfg.logger.name == "wandb" and cfg.logger.mode != "disabled" else None
    )
    timings = timing_rows(run.dir, ("baseline", *ROUND_STEPS))
    run.log_metrics(
        {f"time/{r['where']}/{r['step']}_s": r["seconds"] for r in timings if r["phase"] == "total"}
    )
    files = write_report(
        run.dir,
        baseline,
        per_round,
        f"cycle rlloop: {cfg.experiment_name}",
        _held_out(cfg),
        wandb_run,
        timings,
    )
    finish(logger)
    for name, path in files.items():
        run.add_artifact(name, path)
    _link_final_policy(run, per_round[-1]["policy_out"] if per_round else cfg.policy)
    result = _final_metrics(baseline, per_round)
    run.log_metrics(result)
    print((run.dir / "report.md").read_text(encoding="utf-8"))
    return result


def _link_final_policy(run: Run, policy: str) -> None:
    """``final_policy``: a stable path to the last policy (what later stages such as
    ``generate`` read), replaced atomically so it never points at a half-written round."""
    import os

    link = run.dir / "final_policy"
    tmp = run.dir / ".final_policy.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(os.path.abspath(policy), target_is_directory=True)
    os.replace(tmp, link)
    run.add_artifact("final_policy", link)  # what `cycle generate` of this experiment samples
    run.log_metrics({"final_policy": os.path.abspath(policy)})


def _final_metrics(
    baseline: dict[str, Any] | None, per_round: list[dict[str, Any]]
) -> dict[str, Any]:
    """Flat numbers for the manifest and sweepers: ``final/*`` = the last evaluated policy
    (the last round's samples when nothing is evaluated), plus per-round pair counts."""
    out: dict[str, Any] = {"rounds": len(per_round)}
    last_eval = per_round[-1]["eval"] if per_round else (baseline or {}).get("eval")
    if not last_eval and per_round:
        last_eval = per_round[-1]["review"]
    for key, value in (last_eval or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"final/{key}"] = value
    if baseline and baseline.get("eval", {}).get("mean_score") is not None:
        out["baseline/mean_score"] = baseline["eval"]["mean_score"]
    for m in per_round:
        t = m["round"]
        out[f"round_{t}/pairs"] = (m["pairs"] or {}).get("pairs", 0)
        for key in ("mean_score", "accept_rate"):
            if (m.get("eval") or {}).get(key) is not None:
                out[f"round_{t}/eval_{key}"] = m["eval"][key]
        if (m.get("review") or {}).get("mean_score") is not None:
            out[f"round_{t}/sample_mean_score"] = m["review"]["mean_score"]
    return out
