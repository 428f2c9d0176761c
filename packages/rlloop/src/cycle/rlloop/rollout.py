"""Sampling the policy's papers and reviewing them, each resumable per batch."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

from cycle.core.io import append_jsonl, atomic_write_jsonl, read_jsonl
from cycle.researcher.protocol import GeneratedPaper
from cycle.rlloop.prompts import Prompt
from cycle.rlloop.schemas import RLLoopConfig
from cycle.rlloop.timing import timed


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


_KEPT_POLICY: dict[str, Any] = {}  # keep_policy_loaded: the last policy's generator, by policy


def _researcher(cfg: RLLoopConfig, policy: str, n: int, seed: int) -> Any:
    """The policy's researcher. With ``keep_policy_loaded`` the generator of the last policy is
    kept for the next sampling phase of the same policy (the round's samples after the
    evaluation that precedes them): one load and one compilation per policy, not per phase."""
    import dataclasses

    from cycle.core.generation import build_generator
    from cycle.core.models import policy_model_config
    from cycle.researcher.experiments import build_runner
    from cycle.researcher.researcher import Researcher

    sampling = dataclasses.replace(cfg.sampling, n=n, seed=seed)
    keep = cfg.keep_policy_loaded
    key = repr((policy, cfg.backend))
    generator = _KEPT_POLICY.get(key) if keep else None
    if generator is None:
        _KEPT_POLICY.clear()  # the previous policy's, before this one loads
        generator = build_generator(
            cfg.backend, policy_model_config(cfg.model, policy), progress=False
        )
        if keep:
            _KEPT_POLICY[key] = generator
    runner = build_runner(cfg.experiment_runner)
    return Researcher(generator, sampling, runner, cfg.prompts.max_references)


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), max(1, size))]


def sample_papers(
    cfg: RLLoopConfig, policy: str, prompts: Sequence[Prompt], n: int, seed: int, out: Path
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

    todo = [b for b in _batches(prompts, cfg.prompts.batch_size) if not all(map(finished, b))]
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
        free_memory()
    rows = [latest[p.prompt_id][k] for p in prompts for k in range(n)]
    atomic_write_jsonl(out, rows)
    return rows


_KEPT_REVIEWER: dict[str, Any] = {}  # review.keep_loaded: the reviewer, by its resolved config


def _reviewer(cfg: RLLoopConfig) -> Any:
    """The reviewer. With ``review.keep_loaded`` it is built once per process and kept for every
    later review step: one model load and one torch.compile instead of one per step (on a GPU
    each costs seconds to tens of seconds; keeping it costs its memory during training)."""
    from cycle.core.config import instantiate
    from cycle.reviewer.infer import build_reviewer

    spec = cfg.review
    key = repr((spec, cfg.reviewer))
    if spec.keep_loaded and key in _KEPT_REVIEWER:
        return _KEPT_REVIEWER[key]
    factory = (lambda: instantiate(spec.generator)) if spec.generator is not None else None
    reviewer = build_reviewer(
        spec.model, spec.backend, spec.sampling, cfg.reviewer, generator_factory=factory
    )
    if spec.keep_loaded:
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
    cfg: RLLoopConfig, samples: Sequence[dict[str, Any]], out: Path
) -> list[dict[str, Any]]:
    """One review row per paper, appended to ``out`` per batch (resumable), then rewritten in
    sample order. A paper with no text at all gets no reward, with the reason ``empty_paper``."""
    done: dict[str, dict[str, Any]] = {}
    if out.exists():
        done = {r["id"]: r for r in read_jsonl(out)}
    todo = [
        b for b in _batches(samples, cfg.review.batch_size) if any(s["id"] not in done for s in b)
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
        free_memory()
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
