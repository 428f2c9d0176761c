"""The researcher's stages: ``cycle train_researcher`` and ``cycle generate``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from cycle.core.config import instantiate
from cycle.core.io import (
    append_jsonl,
    atomic_write_json,
    atomic_write_jsonl,
    atomic_write_text,
    file_stem,
    read_jsonl,
)
from cycle.core.runs import Run
from cycle.core.schemas import ModelConfig
from cycle.core.upstream import build_data_command, stage_command
from cycle.data.released import research14k_references
from cycle.researcher.data import load_research14k, sft_conversations
from cycle.researcher.export import to_markdown, to_tex
from cycle.researcher.protocol import GeneratedPaper
from cycle.researcher.schemas import GenerateConfig, TrainResearcherConfig
from cycle.researcher.selection import best_index

log = logging.getLogger(__name__)


def _build_data_command(cfg: TrainResearcherConfig | GenerateConfig) -> str:
    return build_data_command(cfg.upstream.build_data, "research14k")


def train_researcher(cfg: TrainResearcherConfig, run: Run) -> dict[str, Any]:
    """SFT of the policy on Research-14K conversations; exports ``<run>/model``."""
    from cycle.core.tracking import stage_logger
    from cycle.core.training.fit import fit_spec
    from cycle.core.training.sft import fit_sft

    if cfg.export and run.done_artifact("model"):
        return dict(run.metrics)
    rows = load_research14k(cfg.research14k_dir, cfg.split, _build_data_command(cfg))
    if cfg.max_examples is not None:
        rows = rows.select(range(min(cfg.max_examples, len(rows))))
    conversations, rejected = sft_conversations(rows, cfg.max_references)
    run.reject_rows(rejected, reason="not a five-message conversation")
    if not conversations:
        raise ValueError(
            f"no Research-14K conversation to train on; see {run.path('rejected.jsonl')}"
        )
    export_dir = run.path("model") if cfg.export else None
    logger = stage_logger(cfg, run.dir)
    metrics = fit_sft(fit_spec(cfg), cfg.sft, run, conversations, logger, export_dir=export_dir)
    metrics.update(papers=len(rows), rejected_rows=len(rejected))
    run.log_metrics(metrics)
    return metrics


def _policy_model(cfg: GenerateConfig) -> ModelConfig:
    """``cfg.model`` pointed at the exported policy when there is one (logged either way)."""
    from cycle.core.models import policy_model_config

    policy = cfg.policy
    if policy and (Path(policy) / "config.json").is_file():
        log.info("generate: using the trained policy at %s", policy)
        return policy_model_config(cfg.model, policy)
    model = cfg.model
    base = model.name_or_path or f"the untrained base model '{model.name}' (random weights)"
    log.warning(
        "generate: no trained policy at %s (run `%s`); using %s",
        policy,
        stage_command("train_researcher", cfg.upstream.train_researcher),
        base,
    )
    return model


def _prompt_rows(cfg: GenerateConfig) -> list[dict[str, Any]]:
    rows = load_research14k(cfg.research14k_dir, cfg.split, _build_data_command(cfg))
    if cfg.max_prompts is not None:
        rows = rows.select(range(min(cfg.max_prompts, len(rows))))
    return [
        {"prompt_id": row.get("paperId") or str(i), "references": research14k_references(row)}
        for i, row in enumerate(rows)
    ]


def _write_paper_files(run: Run, paper_id: str, paper: GeneratedPaper) -> None:
    safe = file_stem(paper_id)
    atomic_write_text(run.path("papers", f"{safe}.tex"), to_tex(paper))
    atomic_write_text(run.path("papers", f"{safe}.md"), to_markdown(paper))


def generate(cfg: GenerateConfig, run: Run) -> dict[str, Any]:
    """Papers for the Research-14K test prompts, appended to ``papers.jsonl`` (resumable)."""
    from cycle.core.generation import build_generator
    from cycle.core.tracking import finish, stage_logger
    from cycle.researcher.experiments import build_runner
    from cycle.researcher.report import write_report
    from cycle.researcher.researcher import Researcher

    prompts = _prompt_rows(cfg)
    sampling = cfg.sampling
    n = sampling.n
    out_path = run.path("papers.jsonl")
    done: dict[str, int] = {}
    if out_path.exists():
        for row in read_jsonl(out_path):
            done[row["prompt_id"]] = done.get(row["prompt_id"], 0) + 1
    todo = [p for p in prompts if done.get(p["prompt_id"], 0) < n]
    runner = build_runner(cfg.experiment_runner)
    log.info(
        "generate: %d prompts (%d done), %d papers each, experiments: %s",
        len(prompts),
        len(prompts) - len(todo),
        n,
        runner.describe(),
    )
    scorer = instantiate(cfg.scorer) if cfg.scorer else None
    if todo:
        generator = build_generator(cfg.backend, _policy_model(cfg), progress=False)
        researcher = Researcher(
            generator, sampling, runner, cfg.max_references, cfg.outline_attempts
        )
        researcher.check_prompts_fit(
            [(p["references"], cfg.topic) for p in todo],
            cfg.backend.max_model_len or cfg.model.context_length,
        )
        batch = cfg.prompt_batch_size
        for start in tqdm(range(0, len(todo), batch), desc="generate papers", unit="batch"):
            chunk = todo[start : start + batch]
            # A prompt interrupted part-way is redone whole: its n samples belong together.
            groups = researcher.write_many([(p["references"], cfg.topic) for p in chunk], n)
            scores = list(scorer([paper for g in groups for paper in g])) if scorer else None
            if scores is not None and len(scores) != len(chunk) * n:
                raise ValueError(
                    f"scorer returned {len(scores)} scores for {len(chunk) * n} papers"
                )
            for i, (prompt, papers) in enumerate(zip(chunk, groups, strict=True)):
                for k, paper in enumerate(papers):
                    paper_id = f"{prompt['prompt_id']}#{k}"
                    row = {
                        "id": paper_id,
                        "prompt_id": prompt["prompt_id"],
                        "sample": k,
                        **paper.to_row(),
                    }
                    if scores is not None:
                        row["score"] = scores[i * n + k]
                    _write_paper_files(run, paper_id, paper)
                    append_jsonl(out_path, row)
    rows = _latest_rows(read_jsonl(out_path), n)
    run.add_artifact("papers", out_path)
    papers = [GeneratedPaper.from_row(r) for r in rows]
    score_groups = None
    if all("score" in r for r in rows) and rows:
        by_prompt: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_prompt.setdefault(r["prompt_id"], []).append(r)
        score_groups = [[r["score"] for r in group] for group in by_prompt.values()]
        # Rejection sampling: the best-scored paper of each prompt.
        best = [
            group[i]
            for group in by_prompt.values()
            if (i := best_index([r["score"] for r in group])) is not None
        ]
        atomic_write_jsonl(run.path("selected.jsonl"), best)
        run.add_artifact("selected", run.path("selected.jsonl"))
    reviews = read_jsonl(cfg.reviews_file) if cfg.reviews_file else None
    logger = stage_logger(cfg, run.dir)
    report = write_report(
        run.dir,
        papers,
        review_records=reviews,
        score_groups=score_groups,
        system=cfg.system_name,
        wandb_run=logger.experiment if cfg.logger.name == "wandb" else None,
    )
    finish(logger)
    for name, path in report.pop("files").items():
        run.add_artifact(name, path)
    problems: dict[str, int] = {}
    for p in papers:
        for problem in p.problems:
            key = problem.split(":")[0][:80]
            problems[key] = problems.get(key, 0) + 1
    complete = sum(p.complete for p in papers)
    metrics = {
        **{k: v for k, v in report.items() if isinstance(v, (int, float))},
        "prompts": len(prompts),
        "prompts_generated_now": len(todo),
        "complete_papers": complete,
        "experiment_errors": sum(1 for p in papers if p.experiment_error),
    }
    atomic_write_json(run.path("problems.json"), problems)
    run.add_artifact("problems", run.path("problems.json"))
    log.info(
        "generate: %d/%d papers complete (title, abstract, >= 2 sections)", complete, len(papers)
    )
    print(f"generate: {complete}/{len(papers)} papers have a title, an abstract and >= 2 sections")
    run.log_metrics(metrics)
    return metrics


def _latest_rows(rows: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """The last complete set of ``n`` samples per prompt (a prompt redone after an interruption
    appears again further down the file)."""
    latest: dict[str, dict[int, dict[str, Any]]] = {}
    for row in rows:
        latest.setdefault(row["prompt_id"], {})[row["sample"]] = row
    return [row for group in latest.values() for _, row in sorted(group.items())]
