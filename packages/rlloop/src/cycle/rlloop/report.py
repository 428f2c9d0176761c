"""The loop's per-round report: a markdown table and a PNG curve (policy index on the x axis).

Held-out numbers are those of policy P_k on the fixed evaluation prompts (k = 0 is the SFT
policy, evaluated in ``baseline/``; k = t + 1 is trained in round t); the round-sample numbers
are those of the papers P_t wrote for round t's own prompts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cycle.core.io import atomic_write_text, save_figure
from cycle.rlloop.timing import timing_file

DROP_KEYS = ("tie", "missing_reward", "identical_text", "too_few_samples")


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{100 * value:.1f}%" if pct else f"{value:.3g}"
    return str(value)


def policy_rows(
    baseline: dict[str, Any] | None, rounds: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One flat row per policy P_k: held-out stats, and for k >= 1 the round that trained it."""
    rows = []
    if baseline is not None or rounds:
        held_out = ((baseline or {}).get("eval") or {}).items()
        rows.append({"policy": 0, **{f"eval/{k}": v for k, v in held_out}})
    for m in rounds:
        row: dict[str, Any] = {"policy": m["policy"], "round": m["round"]}
        row.update({f"eval/{k}": v for k, v in (m.get("eval") or {}).items()})
        row.update({f"sample/{k}": v for k, v in (m.get("review") or {}).items()})
        pairs = m.get("pairs") or {}
        row["pairs"] = pairs.get("pairs")
        row.update({f"dropped/{k}": pairs.get(f"dropped_{k}") for k in DROP_KEYS})
        train = m.get("train") or {}
        row["trained"] = train.get("trained")
        for key in (
            "loss_first",
            "loss_last",
            "rewards_accuracy_mean",
            "rewards_margin_mean",
            "nll_mean",
        ):
            if key in train:
                row[f"train/{key}"] = train[key]
        rows.append(row)
    return rows


def markdown(rows: Sequence[dict[str, Any]], title: str, held_out: str) -> str:
    lines = [
        f"# {title}",
        "",
        f"Held-out: {held_out}. Round samples: the papers P_t wrote for round t's prompts "
        "(their reviews give the preference pairs that train P_t+1). Scores are the reviewer's mean "
        "rating per paper, averaged; min / max are the per-paper lowest / highest rating, averaged; "
        "the accept rate counts papers whose review decision is Accept, over all papers reviewed.",
        "",
        "| policy | held-out mean | avg min | avg max | accept rate | its round samples: mean "
        "| pairs | dropped tie / missing / identical / too few | training that made it: SimPO "
        "loss first → last | reward acc. |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_policy = {r["policy"]: r for r in rows}
    for r in rows:
        k = r["policy"]
        sampled = by_policy.get(k + 1, {})  # round k sampled with P_k
        dropped = (
            " / ".join(_fmt(sampled.get(f"dropped/{d}")) for d in DROP_KEYS) if sampled else "–"
        )
        loss = (
            f"{_fmt(r.get('train/loss_first'))} → {_fmt(r.get('train/loss_last'))}"
            if "train/loss_first" in r
            else ("not trained" if r.get("trained") is False else "–")
        )
        lines.append(
            f"| P_{k} | {_fmt(r.get('eval/mean_score'))} | {_fmt(r.get('eval/avg_min_score'))} "
            f"| {_fmt(r.get('eval/avg_max_score'))} | {_fmt(r.get('eval/accept_rate'), pct=True)} "
            f"| {_fmt(sampled.get('sample/mean_score'))} | {_fmt(sampled.get('pairs'))} | {dropped} "
            f"| {loss} | {_fmt(r.get('train/rewards_accuracy_mean'))} |"
        )
    return "\n".join(lines) + "\n"


TIMING_COLUMNS = (
    ("seconds", "seconds"),
    ("sequences", "sequences"),
    ("new_tokens", "new tokens"),
    ("decode_steps", "decode steps"),
    ("at_length", "cut at max_new_tokens"),
    ("generate_s", "in generate (s)"),
    ("compiled_graphs", "graphs compiled"),
)


def timing_rows(run_dir: Path, steps: Sequence[str]) -> list[dict[str, Any]]:
    """The phases every step recorded (``steps/<step>.timing.json``), baseline first, then
    round by round, each with ``where`` (baseline / round_<t>) and ``step``."""
    dirs = sorted(run_dir.glob("round_*"), key=lambda d: int(d.name.split("_")[1]))
    rows = []
    for d in [run_dir / "baseline", *dirs]:
        for step in steps:
            path = timing_file(d, step)
            if path.is_file():
                for phase in json.loads(path.read_text(encoding="utf-8")):
                    rows.append({"where": d.name, "step": step, **phase})
    return rows


def timing_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Where the time went: one row per phase of every step (``total`` = the whole step)."""
    head = " | ".join(name for _, name in TIMING_COLUMNS)
    lines = [
        "## Where the time went",
        "",
        "Per step and phase (load_policy / write_papers: the policy's papers, load_reviewer / "
        "review: the reviewer, simpo_fit: training and export; total: the whole step). Decode "
        "steps are those of each `generate` call's longest row (what the batch paid).",
        "",
        f"| where | step | phase | {head} |",
        "|---|---|---|" + "---:|" * len(TIMING_COLUMNS),
    ]
    for r in rows:
        cells = " | ".join(_fmt(r.get(key)) for key, _ in TIMING_COLUMNS)
        lines.append(f"| {r['where']} | {r['step']} | {r['phase']} | {cells} |")
    return "\n".join(lines) + "\n"


def figure(rows: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    held = [r for r in rows if r.get("eval/mean_score") is not None]
    if held:
        ks = [r["policy"] for r in held]
        ax.plot(ks, [r["eval/mean_score"] for r in held], "o-", label="held-out mean (P_k)")
        lo = [r.get("eval/avg_min_score") for r in held]
        hi = [r.get("eval/avg_max_score") for r in held]
        if all(v is not None for v in lo + hi):
            ax.fill_between(ks, lo, hi, alpha=0.2, label="held-out avg min–max")
        ax_acc.plot(ks, [r.get("eval/accept_rate") or 0.0 for r in held], "o-", color="tab:green")
    sampled = [r for r in rows if r.get("sample/mean_score") is not None]
    if sampled:
        ax.plot(
            [r["policy"] - 1 for r in sampled],
            [r["sample/mean_score"] for r in sampled],
            "s--",
            label="round samples mean (P_t)",
        )
    ax.set_xlabel("policy k (P_0 = SFT; P_t+1 trained in round t)")
    ax.set_ylabel("reviewer score")
    ax.legend(fontsize=8)
    ax.set_title(title)
    ax_acc.set_xlabel("policy k")
    ax_acc.set_ylabel("held-out accept rate")
    ax_acc.set_ylim(0, 1)
    for a in (ax, ax_acc):
        a.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def write_report(
    run_dir: Path,
    baseline: dict[str, Any] | None,
    rounds: Sequence[dict[str, Any]],
    title: str,
    held_out: str,
    wandb_run: Any = None,
    timings: Sequence[dict[str, Any]] = (),
) -> dict[str, Path]:
    """``report.md`` (with the per-phase timings when given) and ``rounds.png`` under
    ``run_dir``; the table and figure to W&B if given."""
    rows = policy_rows(baseline, rounds)
    text = markdown(rows, title, held_out) + "\n![per-round scores](rounds.png)\n"
    if timings:
        text += "\n" + timing_markdown(timings)
    md = atomic_write_text(run_dir / "report.md", text)
    png = figure(rows, run_dir / "rounds.png", title)
    if wandb_run is not None:
        import wandb

        columns = sorted({k for r in rows for k in r})
        wandb_run.log(
            {
                "rlloop/rounds": wandb.Table(
                    columns=columns, data=[[r.get(c) for c in columns] for r in rows]
                ),
                "rlloop/curve": wandb.Image(str(png)),
            }
        )
    return {"report": md, "rounds_figure": png}
