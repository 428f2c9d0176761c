"""The iterative cycle (paper §3.3): for each round t, with the policy P_t,

1. ``sample``: P_t writes ``sampling.n`` papers for each prompt of this round's slice of the
   Research-14K bibliographies (``round_<t>/samples.jsonl``, appended per prompt batch);
2. ``review``: the reviewer scores every paper, reward = mean rating, ``None`` when no rating can
   be read (``round_<t>/reviews.jsonl``, appended per batch);
3. ``pairs``: best vs worst paper per prompt, drops counted per reason (``round_<t>/pairs/``, a
   ``datasets`` folder, plus ``pairs.jsonl`` and ``pairs_dropped.jsonl``);
4. ``train``: P_{t+1} = SimPO + NLL on the pairs, one epoch from P_t, exported to
   ``round_<t>/policy/`` (with no pair, P_{t+1} = P_t and the step says so);
5. ``evaluate``: P_{t+1} writes papers for a fixed held-out prompt set (the Research-14K test
   split, the same prompts and seed every round), the reviewer scores them
   (``round_<t>/eval/``), and the round's numbers go to ``round_<t>/metrics.json``.

Before round 0, ``baseline/`` evaluates P_0 the same way. Every step ends by writing its marker
``<dir>/steps/<step>.json`` atomically; a rerun skips marked steps and resumes an unmarked one
from its incremental JSONL (whole prompt / review batches, so what is redone is regenerated
identically under the same seeds). Beside the marker, ``<step>.timing.json`` says where the
step's time went (model loads, generation with its token counts, torch.compile graphs, the
SimPO fit), logged as ``rlloop timing:`` lines and tabled in the report. With
``isolate_steps`` each step runs in its own process (``python -m cycle.rlloop.loop <run_dir>
<dir> <step>``), so vLLM engines and multi-GPU trainers start on a free GPU and Lightning can
launch its ranks.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Any

from omegaconf import DictConfig, OmegaConf

from cycle.core.distributed import is_rank_zero
from cycle.core.io import (
    append_jsonl,
    atomic_dir,
    atomic_write_json,
    atomic_write_jsonl,
    read_jsonl,
)
from cycle.core.runs import seed_everything
from cycle.data.records import Reference
from cycle.researcher.protocol import GeneratedPaper, Message, build_prompt

log = logging.getLogger(__name__)

ROUND_STEPS = ("sample", "review", "pairs", "train", "evaluate")
EVAL_SEED_OFFSET = 10_000  # held-out sampling seed = seed + this, the same in every round
ISOLATED_ENV = "CYCLE_RLLOOP_ISOLATED_STEP"  # set in the child process of an isolated step


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    references: list[Reference]
    messages: list[Message]


def round_dir(run_dir: Path, t: int) -> Path:
    return run_dir / f"round_{t}"


def marker(step_dir: Path, step: str) -> Path:
    return step_dir / "steps" / f"{step}.json"


def timing_file(step_dir: Path, step: str) -> Path:
    """The step's phases with their times (apart from the marker, whose content the round's
    ``metrics.json`` repeats and a resumed run must reproduce exactly)."""
    return step_dir / "steps" / f"{step}.timing.json"


def read_marker(step_dir: Path, step: str) -> dict[str, Any] | None:
    path = marker(step_dir, step)
    if not path.is_file():
        return None
    import json

    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Inputs


def _command(stage: str, cfg: DictConfig) -> str:
    """The command that makes this run's ``stage`` input (for missing-input errors)."""
    from cycle.core.upstream import build_data_command, stage_command

    if stage == "build_data":
        return build_data_command(cfg.upstream.build_data, "research14k")
    return stage_command(stage, cfg.upstream[stage])


def load_prompts(
    cfg: DictConfig, split: str, max_prompts: int | None, ids: set[str] | None = None
) -> list[Prompt]:
    """Research-14K bibliographies of ``split`` as policy prompts, in dataset order (only the
    prompts in ``ids`` when given: reading a released row's bibliography takes ~25 ms)."""
    from cycle.data.released import research14k_references
    from cycle.researcher.data import load_research14k

    rows = load_research14k(cfg.research14k_dir, split, _command("build_data", cfg))
    if max_prompts is not None:
        rows = rows.select(range(min(int(max_prompts), len(rows))))
    prompts = []
    for i, row in enumerate(rows):
        if ids is not None and (row.get("paperId") or str(i)) not in ids:
            continue
        refs = research14k_references(row)
        messages = build_prompt(refs, cfg.prompts.topic, cfg.prompts.max_references)
        prompts.append(Prompt(row.get("paperId") or str(i), refs, messages))
    return prompts


def round_prompts(cfg: DictConfig, t: int) -> list[Prompt]:
    """Round t's slice of the training prompts (``prompts.slices`` disjoint seeded slices)."""
    from cycle.researcher.data import load_research14k
    from cycle.rlloop.pairs import select_round_prompts

    rows = load_research14k(cfg.research14k_dir, cfg.prompts.split, _command("build_data", cfg))
    n = (
        len(rows)
        if cfg.prompts.max_prompts is None
        else min(int(cfg.prompts.max_prompts), len(rows))
    )
    pool = [pid or str(i) for i, pid in enumerate(rows.select_columns(["paperId"])[:n]["paperId"])]
    ids = set(select_round_prompts(pool, t, n_rounds=int(cfg.prompts.slices), seed=int(cfg.seed)))
    return load_prompts(cfg, cfg.prompts.split, cfg.prompts.max_prompts, ids)


def check_inputs(cfg: DictConfig) -> None:
    """Fail at once, naming the command to run, when an upstream artifact is missing."""
    policy = Path(cfg.policy)
    if not (policy / "config.json").is_file():
        raise FileNotFoundError(
            f"no initial policy at {policy}: run `{_command('train_researcher', cfg)}` first "
            "(or set policy=<HF folder>)"
        )
    reviewer = cfg.review.model.get("name_or_path")
    if (
        cfg.review.get("generator") is None
        and reviewer
        and str(reviewer).startswith(str(cfg.paths.runs_dir))
        and not (Path(reviewer) / "config.json").is_file()
    ):
        raise FileNotFoundError(
            f"no reviewer at {reviewer}: run `{_command('train_reviewer', cfg)}` first "
            "(or set review.model.name_or_path=<HF folder>)"
        )
    load_prompts(cfg, cfg.prompts.split, 1)


# ---------------------------------------------------------------------------------------------
# Where the time goes: each step's phases, in ``steps/<step>.timing.json`` and the log

_PHASES: list[dict[str, Any]] = []  # the phases of the step running in this process
_STEP = [""]  # its name for the log ("round 0 sample")


def _work_counters() -> dict[str, float]:
    """This process's generation totals and torch.compile's compiled-graph count so far."""
    from cycle.core.generation.base import GENERATION_STATS

    counts = {k: float(v) for k, v in GENERATION_STATS.items()}
    dynamo = sys.modules.get("torch._dynamo.utils")  # read only when something compiled
    if dynamo is not None:
        counts["compiled_graphs"] = float(dynamo.counters["stats"]["unique_graphs"])
    return counts


@contextlib.contextmanager
def timed(phase: str) -> Iterator[None]:
    """Record ``phase``'s wall time, what it generated (sequences, new tokens, decode steps,
    rows cut at max_new_tokens, seconds inside ``generate``) and the graphs torch.compile
    compiled during it."""
    log.info("rlloop timing: %s: %s started", _STEP[0], phase)  # a cut run names its last phase
    before, start = _work_counters(), time.perf_counter()
    try:
        yield
    finally:
        after = _work_counters()
        row: dict[str, Any] = {"phase": phase, "seconds": round(time.perf_counter() - start, 2)}
        for key, value in after.items():
            if delta := value - before.get(key, 0.0):
                row[key] = round(delta, 2) if key.endswith("_s") else int(delta)
        _PHASES.append(row)
        # logged as each phase ends: a run cut short still shows where its time went
        log.info("rlloop timing: %s: %s", _STEP[0], describe_phase(row))


def describe_phase(row: dict[str, Any]) -> str:
    """One line: ``write_papers 41.2 s; 16 sequences, 5120 new tokens, 512 decode steps ...``."""
    text = f"{row['phase']} {row['seconds']} s"
    if row.get("sequences"):
        text += (
            f"; {row['sequences']} sequences, {row.get('new_tokens', 0)} new tokens, "
            f"{row.get('decode_steps', 0)} decode steps in {row.get('calls', 0)} generate calls "
            f"({row.get('generate_s', 0)} s), {row.get('at_length', 0)} cut at max_new_tokens"
        )
    if row.get("compiled_graphs"):
        text += f"; {row['compiled_graphs']} graphs compiled"
    return text


# ---------------------------------------------------------------------------------------------
# Sampling and reviewing (resumable per batch)


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


_KEPT_POLICY: dict[str, Any] = {}  # keep_policy_loaded: the last policy's generator, by policy


def _researcher(cfg: DictConfig, policy: str, n: int, seed: int) -> Any:
    """The policy's researcher. With ``keep_policy_loaded`` the generator of the last policy is
    kept for the next sampling phase of the same policy (the round's samples after the
    evaluation that precedes them): one load and one compilation per policy, not per phase."""
    import dataclasses

    from cycle.core.config import to_dataclass
    from cycle.core.generation import build_generator
    from cycle.core.models import policy_model_config
    from cycle.core.schemas import BackendConfig, SamplingConfig
    from cycle.researcher.experiments import build_runner
    from cycle.researcher.researcher import Researcher

    sampling = dataclasses.replace(to_dataclass(cfg.sampling, SamplingConfig), n=n, seed=seed)
    keep = bool(cfg.get("keep_policy_loaded", False))
    key = repr([policy, OmegaConf.to_container(cfg.backend, resolve=True)])
    generator = _KEPT_POLICY.get(key) if keep else None
    if generator is None:
        _KEPT_POLICY.clear()  # the previous policy's, before this one loads
        generator = build_generator(
            to_dataclass(cfg.backend, BackendConfig),
            policy_model_config(cfg, policy),
            progress=False,
        )
        if keep:
            _KEPT_POLICY[key] = generator
    runner = build_runner(cfg.experiment_runner)
    return Researcher(generator, sampling, runner, cfg.prompts.max_references)


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


def sample_papers(
    cfg: DictConfig, policy: str, prompts: Sequence[Prompt], n: int, seed: int, out: Path
) -> list[dict[str, Any]]:
    """``n`` papers per prompt appended to ``out`` per prompt batch; a rerun redoes only the
    batches with an unfinished prompt (same batch, same seed: the same papers), then ``out`` is
    rewritten in prompt order, one row per (prompt, sample)."""
    latest: dict[str, dict[int, dict[str, Any]]] = {}
    if out.exists():
        for row in read_jsonl(out):
            latest.setdefault(row["prompt_id"], {})[row["sample"]] = row

    def finished(p: Prompt) -> bool:
        return len(latest.get(p.prompt_id, {})) >= n

    todo = [b for b in _batches(prompts, int(cfg.prompts.batch_size)) if not all(map(finished, b))]
    if todo:
        with timed("load_policy"):
            researcher = _researcher(cfg, policy, n, seed)
        for batch in todo:
            with timed("write_papers"):
                groups = researcher.write_many(
                    [(p.references, cfg.prompts.topic) for p in batch], n
                )
            for prompt, papers in zip(batch, groups, strict=True):
                if finished(prompt):
                    continue
                for k, paper in enumerate(papers):
                    row = {
                        "id": f"{prompt.prompt_id}#{k}",
                        "prompt_id": prompt.prompt_id,
                        "sample": k,
                        **paper.to_row(),
                    }
                    append_jsonl(out, row)
                    latest.setdefault(prompt.prompt_id, {})[k] = row
        del researcher
        _free_memory()
    rows = [latest[p.prompt_id][k] for p in prompts for k in range(n)]
    atomic_write_jsonl(out, rows)
    return rows


_KEPT_REVIEWER: dict[str, Any] = {}  # review.keep_loaded: the reviewer, by its resolved config


def _reviewer(cfg: DictConfig) -> Any:
    """The reviewer. With ``review.keep_loaded`` it is built once per process and kept for every
    later review step: one model load and one torch.compile instead of one per step (on a GPU
    each costs seconds to tens of seconds; keeping it costs its memory during training)."""
    from cycle.core.config import instantiate, to_dataclass
    from cycle.core.schemas import BackendConfig, SamplingConfig
    from cycle.reviewer.infer import build_reviewer
    from cycle.reviewer.schemas import ReviewerConfig

    spec = cfg.review
    keep = bool(spec.get("keep_loaded", False))
    key = repr([OmegaConf.to_container(cfg[k], resolve=True) for k in ("review", "reviewer")])
    if keep and key in _KEPT_REVIEWER:
        return _KEPT_REVIEWER[key]
    factory = (lambda: instantiate(spec.generator)) if spec.get("generator") is not None else None
    reviewer = build_reviewer(
        spec.model,
        to_dataclass(spec.backend, BackendConfig),
        to_dataclass(spec.sampling, SamplingConfig),
        to_dataclass(cfg.reviewer, ReviewerConfig),
        generator_factory=factory,
    )
    if keep:
        _KEPT_REVIEWER.clear()
        _KEPT_REVIEWER[key] = reviewer
    return reviewer


def review_text(sample: dict[str, Any]) -> tuple[str, bool]:
    """What the reviewer reads: the parsed paper (title, abstract, sections), or, when nothing
    could be parsed, the policy's raw turns (a badly formed paper is still the policy's paper and
    should be scored low, not left out of the pairs). The flag says whether it parsed."""
    paper = GeneratedPaper.from_row(sample)
    if paper.title or paper.abstract or paper.sections:
        return paper.latex_body.strip(), True
    return "\n\n".join(
        t for t in (paper.outline_text, paper.second_text) if t.strip()
    ).strip(), False


def review_papers(
    cfg: DictConfig, samples: Sequence[dict[str, Any]], out: Path
) -> list[dict[str, Any]]:
    """One review row per paper, appended to ``out`` per batch (resumable), then rewritten in
    sample order. A paper with no text at all gets no reward, with the reason ``empty_paper``."""
    done: dict[str, dict[str, Any]] = {}
    if out.exists():
        done = {r["id"]: r for r in read_jsonl(out)}
    todo = [
        b
        for b in _batches(samples, int(cfg.review.batch_size))
        if any(s["id"] not in done for s in b)
    ]
    if todo:
        reviewer = None
        for batch in todo:
            texts, parsed = zip(*(review_text(s) for s in batch), strict=True)
            rows: list[dict[str, Any]] = []
            to_review = [i for i, text in enumerate(texts) if text]
            if to_review:
                if reviewer is None:
                    with timed("load_reviewer"):
                        reviewer = _reviewer(cfg)
                with timed("review"):
                    results = reviewer.review([texts[i] for i in to_review])
                by_index = dict(zip(to_review, results, strict=True))
            for i, sample in enumerate(batch):
                head = {
                    "id": sample["id"],
                    "prompt_id": sample["prompt_id"],
                    "sample": sample["sample"],
                    "parsed_paper": parsed[i],
                }
                if i in to_review:
                    rows.append({**head, **by_index[i].to_row(), "skipped": None})
                else:
                    rows.append({**head, "reward": None, "skipped": "empty_paper"})
            for row in rows:
                if row["id"] not in done:
                    append_jsonl(out, row)
                    done[row["id"]] = row
        del reviewer
        _free_memory()
    rows = [done[s["id"]] for s in samples]
    atomic_write_jsonl(out, rows)
    return rows


def score_stats(reviews: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean reward, mean per-paper min / max rating, accept rate (over all papers reviewed)."""

    def mean(key: str) -> float | None:
        values = [r[key] for r in reviews if r.get(key) is not None]
        return fmean(values) if values else None

    accepted = sum(r.get("decision") == "Accept" for r in reviews)
    return {
        "papers": len(reviews),
        "mean_score": mean("reward"),
        "avg_min_score": mean("min_rating"),
        "avg_max_score": mean("max_rating"),
        "accept_rate": accepted / len(reviews) if reviews else None,
        "missing_rewards": sum(r.get("reward") is None for r in reviews),
        "no_decision": sum(r.get("decision") is None for r in reviews),
        "empty_papers": sum(r.get("skipped") == "empty_paper" for r in reviews),
        "unparsed_papers": sum(r.get("parsed_paper") is False for r in reviews),
    }


# ---------------------------------------------------------------------------------------------
# The steps. Each takes the resolved config, the run directory and the round (None = baseline),
# does its work, and returns what its marker records.


def _policy_in(run_dir: Path, cfg: DictConfig, t: int) -> str:
    """P_t: the SFT policy for round 0, else what round t-1's train step left."""
    if t == 0:
        return str(cfg.policy)
    prev = read_marker(round_dir(run_dir, t - 1), "train")
    if prev is None:
        raise RuntimeError(f"round {t - 1} has no finished train step; cannot start round {t}")
    return str(prev["policy"])


def step_sample(cfg: DictConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    prompts = round_prompts(cfg, t)
    rows = sample_papers(
        cfg,
        _policy_in(run_dir, cfg, t),
        prompts,
        int(cfg.sampling.n),
        int(cfg.seed) + t,
        d / "samples.jsonl",
    )
    return {
        "prompts": len(prompts),
        "samples": len(rows),
        "complete_papers": sum(bool(r.get("complete")) for r in rows),
    }


def step_review(cfg: DictConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    reviews = review_papers(cfg, read_jsonl(d / "samples.jsonl"), d / "reviews.jsonl")
    return score_stats(reviews)


def step_pairs(cfg: DictConfig, run_dir: Path, t: int) -> dict[str, Any]:
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


def _train_logger(cfg: DictConfig, save_dir: Path, t: int, isolated: bool) -> Any:
    """Per-step training metrics: a W&B run of their own in an isolated step; in the loop's
    process (where W&B has one run, the loop's) a CSV file in ``round_<t>/train/csv``."""
    from cycle.core.tracking import stage_logger

    name = cfg.logger.name if isolated else "csv"
    return stage_logger(cfg, save_dir, name=name, run_name=f"{cfg.logger.run_name}/round_{t}/train")


def step_train(cfg: DictConfig, run_dir: Path, t: int) -> dict[str, Any]:
    import datasets

    from cycle.core.tracking import finish
    from cycle.rlloop.simpo_module import fit_simpo, write_dropped

    d = round_dir(run_dir, t)
    policy_in = _policy_in(run_dir, cfg, t)
    n_pairs = (read_marker(d, "pairs") or {}).get("pairs", 0)
    if n_pairs == 0 or not cfg.train.enabled:
        reason = "training disabled (train.enabled=false)" if n_pairs else "no preference pairs"
        log.warning("round %d: %s; P_%d = P_%d", t, reason, t + 1, t)
        return {"trained": False, "reason": reason, "policy": policy_in, "policy_in": policy_in}
    pairs = datasets.load_from_disk(str(d / "pairs"))
    seed_everything(int(cfg.seed) + t)
    logger = _train_logger(cfg, d / "train", t, isolated=bool(os.environ.get(ISOLATED_ENV)))
    try:
        with timed("simpo_fit"):
            result = fit_simpo(
                cfg, d / "train", pairs, policy_in, export_dir=d / "policy", logger=logger
            )
    finally:
        finish(logger)
    write_dropped(d / "untrainable_pairs.jsonl", result.dropped)
    _free_memory()
    return {"trained": True, "policy": str(d / "policy"), "policy_in": policy_in, **result.metrics}


def eval_enabled(cfg: DictConfig) -> bool:
    """Held-out evaluation is on unless ``eval.max_prompts`` is 0 (null = the whole split)."""
    return cfg.eval.max_prompts is None or int(cfg.eval.max_prompts) > 0


def evaluate_policy(cfg: DictConfig, policy: str, out_dir: Path) -> dict[str, Any]:
    """Papers of ``policy`` on the held-out prompts, reviewed; empty dict when disabled."""
    if not eval_enabled(cfg):
        return {}
    prompts = load_prompts(cfg, cfg.eval.split, cfg.eval.max_prompts)
    samples = sample_papers(
        cfg,
        policy,
        prompts,
        int(cfg.eval.papers_per_prompt),
        int(cfg.seed) + EVAL_SEED_OFFSET,
        out_dir / "samples.jsonl",
    )
    return {
        "prompts": len(prompts),
        **score_stats(review_papers(cfg, samples, out_dir / "reviews.jsonl")),
    }


def step_evaluate(cfg: DictConfig, run_dir: Path, t: int) -> dict[str, Any]:
    d = round_dir(run_dir, t)
    train = read_marker(d, "train") or {}
    stats = evaluate_policy(cfg, train["policy"], d / "eval")
    metrics = {
        "round": t,
        "policy": t + 1,
        "policy_in": train.get("policy_in"),
        "policy_out": train["policy"],
        "sample": read_marker(d, "sample"),
        "review": read_marker(d, "review"),
        "pairs": read_marker(d, "pairs"),
        "train": train,
        "eval": stats,
    }
    atomic_write_json(d / "metrics.json", metrics)
    return stats


def step_baseline(cfg: DictConfig, run_dir: Path, t: int | None = None) -> dict[str, Any]:
    d = run_dir / "baseline"
    stats = evaluate_policy(cfg, str(cfg.policy), d / "eval")
    atomic_write_json(
        d / "metrics.json", {"policy": 0, "policy_out": str(cfg.policy), "eval": stats}
    )
    return stats


STEP_FUNCTIONS: dict[str, Callable[[DictConfig, Path, Any], dict[str, Any]]] = {
    "sample": step_sample,
    "review": step_review,
    "pairs": step_pairs,
    "train": step_train,
    "evaluate": step_evaluate,
    "baseline": step_baseline,
}


def step_dir(run_dir: Path, t: int | None) -> Path:
    return run_dir / "baseline" if t is None else round_dir(run_dir, t)


def run_step_here(cfg: DictConfig, run_dir: Path, step: str, t: int | None) -> dict[str, Any]:
    """Run one step in this process unless its marker exists; returns the marker's content."""
    d = step_dir(run_dir, t)
    done = read_marker(d, step)
    if done is not None:
        return done
    seed_everything(int(cfg.seed) + (t or 0))
    _PHASES.clear()
    _STEP[0] = f"{'baseline' if t is None else f'round {t}'} {step}"
    with timed("total"):
        result = STEP_FUNCTIONS[step](cfg, run_dir, t)
    if is_rank_zero():  # the other ranks of a multi-process train step only train
        atomic_write_json(timing_file(d, step), _PHASES)
        atomic_write_json(marker(d, step), result)
    return result


def _child_env() -> dict[str, str]:
    """The environment of an isolated step: without SLURM's task variables, so that Lightning
    launches its own ranks inside a one-task-per-node job (launcher=slurm) instead of expecting
    ``srun`` to have started them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    env[ISOLATED_ENV] = "1"
    return env


def run_step(cfg: DictConfig, run_dir: Path, step: str, t: int | None) -> dict[str, Any]:
    """``run_step_here``, or the same in a child process when ``cfg.isolate_steps`` is set."""
    d = step_dir(run_dir, t)
    if read_marker(d, step) is None and cfg.get("isolate_steps", False):
        cmd = [
            sys.executable,
            "-m",
            "cycle.rlloop.loop",
            str(run_dir),
            step,
            "" if t is None else str(t),
        ]
        log.info("rlloop: %s", " ".join(cmd[2:]))
        code = subprocess.run(cmd, env=_child_env(), check=False).returncode
        if code != 0:
            raise RuntimeError(f"rlloop step '{step}' (round {t}) failed with exit code {code}")
    return run_step_here(cfg, run_dir, step, t)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m cycle.rlloop.loop <run_dir> <step> [<round>]``: one step with the run's
    resolved config (``<run_dir>/config.yaml``, written by the stage runner)."""
    args = list(sys.argv[1:] if argv is None else argv)
    run_dir, step = Path(args[0]), args[1]
    t = int(args[2]) if len(args) > 2 and args[2] != "" else None
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
    )
    cfg = OmegaConf.load(run_dir / "config.yaml")
    run_step_here(cfg, run_dir, step, t)


if __name__ == "__main__":
    main()
