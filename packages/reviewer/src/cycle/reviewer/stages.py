"""The reviewer's stages: ``cycle train_reviewer`` and ``cycle evaluate_reviewer``."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from cycle.core.config import with_changes
from cycle.core.io import atomic_write_jsonl
from cycle.core.runs import Run
from cycle.core.schemas import BackendConfig, ModelConfig, SamplingConfig, StageConfig
from cycle.core.upstream import build_data_command, stage_command
from cycle.reviewer.schemas import (
    EvaluateReviewerConfig,
    ReviewerConfig,
    ReviewerEntry,
    TrainReviewerConfig,
)

log = logging.getLogger(__name__)


def _build_data_command(cfg: StageConfig) -> str:
    return build_data_command(cfg.upstream.build_data, "review5k")


def _write_rejected(run: Run, rejected: list[dict[str, Any]]) -> None:
    run.reject_rows(rejected, reason=lambda row: row["reason"].split(":")[0])


def train_reviewer(cfg: TrainReviewerConfig, run: Run) -> dict[str, Any]:
    """SFT of the reviewer on the Review-5K reviewer view; exports ``<run>/model``.

    ``validation.papers`` > 0 holds that many papers off the end of the split out of training
    and draws a validation curve on them (``validation.jsonl``, ``val/*`` in the logger)."""
    from cycle.core.models import load_tokenizer
    from cycle.core.tracking import stage_logger
    from cycle.core.training.fit import fit_spec
    from cycle.core.training.sft import fit_sft
    from cycle.reviewer.scoring import ValidationCurve, rating_scale
    from cycle.reviewer.train import load_review5k, reviewer_rows, reviewer_sft_data

    if cfg.export and run.done_artifact("model"):
        return dict(run.metrics)
    command = _build_data_command(cfg)
    rows = reviewer_rows(cfg.review5k_dir, cfg.split, cfg.target, cfg.short_words, command)
    n_val = cfg.validation.papers
    if n_val >= len(rows):
        raise ValueError(
            f"validation.papers={n_val} leaves no training paper of {len(rows)} in split "
            f"'{cfg.split}'; lower it"
        )
    n_train = len(rows) - n_val
    if cfg.max_examples is not None:
        n_train = min(n_train, cfg.max_examples)
    train_rows = rows.select(range(n_train))
    # Papers are already cut to fit; "end" only guards against an off-by-one of the template.
    sft = dataclasses.replace(cfg.sft, truncation="end")
    tokenizer = load_tokenizer(cfg.model)

    def fitted(part: Any) -> Any:
        return reviewer_sft_data(
            part, tokenizer, sft.max_length, cfg.reviewer.paper_truncation, cfg.min_paper_tokens
        )

    data = fitted(train_rows)
    _write_rejected(run, data.rejected)
    if not data.conversations:
        raise ValueError(
            f"no reviewer conversation fits {sft.max_length} tokens; see {run.path('rejected.jsonl')}"
        )
    callbacks = []
    if n_val:
        val = fitted(rows.select(range(len(rows) - n_val, len(rows))))
        scale = rating_scale(load_review5k(cfg.review5k_dir, "papers", cfg.split, command))
        curve = ValidationCurve(
            val.conversations, val.mean_ratings, tokenizer, scale, cfg.validation.every_n_steps
        )
        callbacks.append(curve)
    metrics = fit_sft(
        fit_spec(cfg),
        sft,
        run,
        data.conversations,
        stage_logger(cfg, run.dir),
        export_dir=run.path("model") if cfg.export else None,
        callbacks=callbacks,
    )
    if n_val:
        atomic_write_jsonl(run.path("validation.jsonl"), curve.history)
        run.add_artifact("validation", run.path("validation.jsonl"))
    metrics.update(
        papers=len(train_rows),
        validation_papers=n_val,
        papers_truncated=data.truncated,
        paper_tokens_dropped=data.paper_tokens_dropped,
        rejected_too_long=len(data.rejected),
    )
    run.log_metrics(metrics)
    return metrics


@dataclasses.dataclass
class ReviewerSetup:
    """One entry of ``cfg.reviewers`` with its changes applied to the stage's nodes."""

    label: str
    model: ModelConfig
    backend: BackendConfig
    sampling: SamplingConfig
    reviewer: ReviewerConfig
    generator: Any = None


def _reviewer_setup(cfg: EvaluateReviewerConfig, name: str, entry: ReviewerEntry) -> ReviewerSetup:
    """``entry``'s model / backend / sampling / reviewer changes over the stage's nodes
    (``ConfigError`` for an unknown key)."""
    where = f"reviewers.{name}"
    return ReviewerSetup(
        label=entry.label or name,
        model=with_changes(cfg.model, entry.model, f"{where}.model"),
        backend=with_changes(cfg.backend, entry.backend, f"{where}.backend"),
        sampling=with_changes(cfg.sampling, entry.sampling, f"{where}.sampling"),
        reviewer=with_changes(cfg.reviewer, entry.reviewer, f"{where}.reviewer"),
        generator=entry.generator,
    )


def _reviewer_setups(cfg: EvaluateReviewerConfig) -> dict[str, ReviewerSetup]:
    return {name: _reviewer_setup(cfg, name, entry) for name, entry in cfg.reviewers.items()}


def _reviewer_for(cfg: EvaluateReviewerConfig, name: str, setup: ReviewerSetup) -> Any:
    """A ``Reviewer`` for one entry of ``cfg.reviewers``: its settings, or a ``generator`` node
    with a ``_target_``."""
    from cycle.core.config import instantiate
    from cycle.reviewer.infer import build_reviewer

    path = setup.model.name_or_path
    runs_dir = cfg.paths.runs_dir
    if path and str(path).startswith(str(runs_dir)) and not Path(path).is_dir():
        stage = Path(path).relative_to(runs_dir).parts[0]
        experiment = getattr(cfg.upstream, stage, cfg.experiment_name)
        raise FileNotFoundError(
            f"reviewer '{name}': no model at {path}; run `{stage_command(stage, experiment)}` first"
        )
    generator = setup.generator
    factory = (lambda: instantiate(generator)) if generator is not None else None
    return build_reviewer(
        setup.model, setup.backend, setup.sampling, setup.reviewer, generator_factory=factory
    )


def _review_papers(
    cfg: EvaluateReviewerConfig, run: Run, name: str, setup: ReviewerSetup, rows: Any
) -> list[dict[str, Any]]:
    """One JSONL row per paper in ``reviews/<name>.jsonl``, appended as batches finish (resumable)."""
    from cycle.core.io import append_jsonl, read_jsonl

    out = run.path("reviews", f"{name}.jsonl")
    done = {r["id"]: r for r in read_jsonl(out)} if out.exists() else {}
    todo = [i for i, pid in enumerate(rows["id"]) if pid not in done]
    if todo:
        reviewer = _reviewer_for(cfg, name, setup)
        batch = cfg.backend.batch_size
        for start in range(0, len(todo), batch):
            chunk = rows.select(todo[start : start + batch])
            for pid, result in zip(
                chunk["id"], reviewer.review(list(chunk["paper_text"])), strict=True
            ):
                done[pid] = {"id": pid, **result.to_row()}
                append_jsonl(out, done[pid])
        log.info("evaluate_reviewer: %s %s", name, reviewer.counts)
    run.add_artifact(f"reviews/{name}", out)
    return [done[pid] for pid in rows["id"]]


def _human_reviews(cfg: EvaluateReviewerConfig, run: Run) -> tuple[Any, Any]:
    """The papers to score (``HumanReviews``) and, from Review-5K, their rows (for the paper
    texts a reviewer reads); a ``gold`` file gives no rows."""
    from cycle.reviewer.predictions import HumanReviews, load_gold
    from cycle.reviewer.train import load_review5k

    if cfg.gold:
        human = load_gold(cfg.gold, cfg.split)
        if cfg.max_papers is not None:
            keep = cfg.max_papers
            human = HumanReviews(
                human.ids[:keep], human.ratings[:keep], human.accepted[:keep], human.rejected
            )
        where, rows = f"gold={cfg.gold} (split '{cfg.split}' when it has splits)", None
    else:
        rows = load_review5k(cfg.review5k_dir, "papers", cfg.split, _build_data_command(cfg))
        if cfg.max_papers is not None:
            rows = rows.select(range(min(cfg.max_papers, len(rows))))
        human = HumanReviews(
            list(rows["id"]),
            _on_common_scale([list(r) for r in rows["ratings"]], rows),
            [bool(a) for a in rows["accepted"]],
        )
        where = f"the '{cfg.split}' split of Review-5K at {cfg.review5k_dir}"
    if not human.ids:
        _write_rejected(run, human.rejected)
        raise ValueError(
            f"evaluate_reviewer: {where} has no papers to score (see rejected.jsonl); "
            "choose a split that has some (split=train) or give papers with reviews and a decision"
        )
    return human, rows


def _human_accept_threshold(cfg: EvaluateReviewerConfig, rows: Any) -> float:
    """``human_accept_threshold``, else the one of the rows' rating scale (6 on 1-10)."""
    from cycle.reviewer.scoring import accept_threshold, rating_scale

    if cfg.human_accept_threshold is not None:
        return cfg.human_accept_threshold
    return float(accept_threshold(rating_scale(rows, mixed=True) if rows is not None else (1, 10)))


def _on_common_scale(ratings: list[list[float]], rows: Any) -> list[list[float]]:
    """Human ratings on the rows' one scale, or rescaled to 1-10 where venues are mixed."""
    from cycle.data.review_text import common_rating_scale, rescale
    from cycle.reviewer.scoring import row_scales

    scales = row_scales(rows)
    target, normalised = common_rating_scale(scales)
    if not normalised:
        return ratings
    return [[rescale(v, s, target) for v in r] for r, s in zip(ratings, scales, strict=True)]


def _stored_predictions(
    cfg: EvaluateReviewerConfig, run: Run, ids: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Per paper, the stored outputs of ``cfg.predictions`` aggregated as a reviewer's would be
    (a paper without one has no reward and no decision), and the rejected lines."""
    from cycle.reviewer.infer import aggregate
    from cycle.reviewer.predictions import load_predictions

    preds = load_predictions(cfg.predictions)
    unknown = sorted(set(preds.texts) - set(ids))
    rejected = preds.rejected + [
        {"source": cfg.predictions, "id": pid, "reason": "no human reviews for this id"}
        for pid in unknown
    ]
    missing = [pid for pid in ids if pid not in preds.texts]
    if len(missing) == len(ids):
        raise ValueError(
            f"predictions={cfg.predictions}: no id matches a paper to score (ids such as "
            f"{ids[:3]}); set each row's id to the paper's id"
        )
    if missing:
        log.warning("evaluate_reviewer: %d papers have no prediction", len(missing))
    reward = cfg.reviewer.reward
    results = []
    for pid in ids:
        texts = preds.texts.get(pid, [])
        result = aggregate(texts, reward, truncated=preds.truncated.get(pid, []))
        results.append({"id": pid, **result.to_row()})
    out = run.path("reviews", "predictions.jsonl")
    atomic_write_jsonl(out, results)
    run.add_artifact("reviews/predictions", out)
    return results, rejected


def evaluate_reviewer(cfg: EvaluateReviewerConfig, run: Run) -> dict[str, Any]:
    """Table 1 for every entry of ``cfg.reviewers`` (or for the stored outputs of
    ``cfg.predictions``) on Review-5K's split or a ``gold`` file, plus the figure."""
    from cycle.core.io import atomic_write_json, atomic_write_text
    from cycle.core.tracking import finish, stage_logger
    from cycle.reviewer.evaluate import human_row, model_row
    from cycle.reviewer.report import (
        log_to_wandb,
        paper_scores,
        score_distribution_figure,
        table1_markdown,
    )

    if not cfg.predictions:
        _reviewer_setups(cfg)  # an unknown key in an entry fails here, before any work
    people, rows = _human_reviews(cfg, run)
    mixed = False
    if rows is not None:
        from cycle.data.review_text import common_rating_scale
        from cycle.reviewer.scoring import rating_scale, row_scales

        mixed = common_rating_scale(row_scales(rows))[1]
        if cfg.reviewer.rating_scale is None:
            # The prompt names the venue's scale (1-10 where venues are mixed: the scale every
            # rating is then scored on).
            scale = list(rating_scale(rows, mixed=True))
            cfg = dataclasses.replace(
                cfg, reviewer=dataclasses.replace(cfg.reviewer, rating_scale=scale)
            )
    human, accepted = people.ratings, people.accepted
    rejected = list(people.rejected)
    outputs: dict[str, list[dict[str, Any]]] = {}
    if cfg.predictions:
        stored, bad = _stored_predictions(cfg, run, people.ids)
        outputs[cfg.predictions_label] = stored
        rejected += bad
    else:
        if rows is None:
            raise ValueError(
                "gold= gives human reviews without paper texts: score stored outputs with "
                "predictions=<file>, or run reviewers on Review-5K (drop gold=)"
            )
        for name, setup in _reviewer_setups(cfg).items():
            outputs[setup.label] = _review_papers(cfg, run, name, setup, rows)
    _write_rejected(run, rejected)
    table = [human_row(human, accepted, _human_accept_threshold(cfg, rows))]
    model_scores = {}
    for label, reviews in outputs.items():
        n_outputs = sum(len(r["samples"]) for r in reviews)
        unparseable = sum(r["n_unparseable"] for r in reviews)
        table.append(
            model_row(
                label,
                human,
                accepted,
                [r["reward"] for r in reviews],
                [None if r["decision"] is None else r["decision"] == "Accept" for r in reviews],
                seed=cfg.seed,
                parse_rate=(n_outputs - unparseable) / n_outputs if n_outputs else None,
                draw=cfg.proxy_n1,
                paper_ids=people.ids,
            )
        )
        model_scores[label] = [
            None
            if r["mean_rating"] is None
            else (r["min_rating"], r["max_rating"], r["mean_rating"])
            for r in reviews
        ]
    source = f"gold {Path(cfg.gold).name}" if cfg.gold else "Review-5K"
    scale = list(cfg.reviewer.rating_scale or (1, 10))
    normalised = ", ratings of mixed venues normalised to 1–10" if mixed else ""
    markdown = table1_markdown(
        table,
        title=f"{source} {cfg.split}, {len(people.ids)} papers{normalised}",
        draw=cfg.proxy_n1,
        scale=scale,
    )
    atomic_write_text(run.path("table1.md"), markdown)
    run.add_artifact("table1", run.path("table1.md"))
    atomic_write_json(run.path("table1.json"), [r.to_dict() for r in table])
    run.add_artifact("table1_json", run.path("table1.json"))
    figure = score_distribution_figure(
        [paper_scores(h) for h in human], model_scores, run.path("score_distributions.png")
    )
    run.add_artifact("score_distributions", figure)
    if cfg.logger.name == "wandb" and cfg.logger.mode != "disabled":
        logger = stage_logger(cfg, run.dir)
        log_to_wandb(logger, table, figure)
        finish(logger)
    print(markdown)
    metrics: dict[str, Any] = {"papers": len(people.ids)}
    for row in table:
        for key, value in row.to_dict().items():
            if key != "name" and value is not None:
                metrics[f"{row.name}/{key}"] = value
    return metrics
