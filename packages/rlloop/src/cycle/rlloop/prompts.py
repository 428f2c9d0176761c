"""The policy's prompts: Research-14K bibliographies (a round's slice of the training split, or
the held-out split), and the check that the loop's upstream inputs exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cycle.data.records import Reference
from cycle.researcher.protocol import Message, build_prompt
from cycle.rlloop.schemas import RLLoopConfig


@dataclass(frozen=True)
class Prompt:
    prompt_id: str
    references: list[Reference]
    messages: list[Message]


def _command(stage: str, cfg: RLLoopConfig) -> str:
    """The command that makes this run's ``stage`` input (for missing-input errors)."""
    from cycle.core.upstream import build_data_command, stage_command

    if stage == "build_data":
        return build_data_command(cfg.upstream.build_data, "research14k")
    return stage_command(stage, getattr(cfg.upstream, stage))


def load_prompts(
    cfg: RLLoopConfig, split: str, max_prompts: int | None, ids: set[str] | None = None
) -> list[Prompt]:
    """Research-14K bibliographies of ``split`` as policy prompts, in dataset order (only the
    prompts in ``ids`` when given: reading a released row's bibliography takes ~25 ms)."""
    from cycle.data.released import research14k_references
    from cycle.researcher.data import load_research14k

    rows = load_research14k(cfg.research14k_dir, split, _command("build_data", cfg))
    if max_prompts is not None:
        rows = rows.select(range(min(max_prompts, len(rows))))
    prompts = []
    for i, row in enumerate(rows):
        if ids is not None and (row.get("paperId") or str(i)) not in ids:
            continue
        refs = research14k_references(row)
        messages = build_prompt(refs, cfg.prompts.topic, cfg.prompts.max_references)
        prompts.append(Prompt(row.get("paperId") or str(i), refs, messages))
    return prompts


def round_prompts(cfg: RLLoopConfig, t: int) -> list[Prompt]:
    """Round t's slice of the training prompts (``prompts.slices`` disjoint seeded slices)."""
    from cycle.researcher.data import load_research14k
    from cycle.rlloop.pairs import select_round_prompts

    rows = load_research14k(cfg.research14k_dir, cfg.prompts.split, _command("build_data", cfg))
    n = len(rows) if cfg.prompts.max_prompts is None else min(cfg.prompts.max_prompts, len(rows))
    pool = [pid or str(i) for i, pid in enumerate(rows.select_columns(["paperId"])[:n]["paperId"])]
    ids = set(select_round_prompts(pool, t, n_rounds=cfg.prompts.slices, seed=cfg.seed))
    return load_prompts(cfg, cfg.prompts.split, cfg.prompts.max_prompts, ids)


def check_inputs(cfg: RLLoopConfig) -> None:
    """Fail at once, naming the command to run, when an upstream artifact is missing."""
    policy = Path(cfg.policy)
    if not (policy / "config.json").is_file():
        raise FileNotFoundError(
            f"no initial policy at {policy}: run `{_command('train_researcher', cfg)}` first "
            "(or set policy=<HF folder>)"
        )
    reviewer = cfg.review.model.name_or_path
    if (
        cfg.review.generator is None
        and reviewer
        and reviewer.startswith(cfg.paths.runs_dir)
        and not (Path(reviewer) / "config.json").is_file()
    ):
        raise FileNotFoundError(
            f"no reviewer at {reviewer}: run `{_command('train_reviewer', cfg)}` first "
            "(or set review.model.name_or_path=<HF folder>)"
        )
    load_prompts(cfg, cfg.prompts.split, 1)
