"""``cycle pipeline``: the whole cycle as a chain of stages, one subprocess each, resumable.

Each step runs ``cycle <stage>`` in ``runs/<step name>/<experiment>``: for the steps of
``conf/pipeline.yaml``, named after their stages, the conventional run directory where the next
step looks for its inputs (a second step of a stage, e.g. ``generate_base``, gets its own). Steps run in their
own processes so that each one starts with fresh memory and so that a multi-GPU step can be
launched the way that step needs. A step whose run directory says it completed with the same
config is skipped by the stage runner itself (``resume``), so rerunning the pipeline after a
crash continues at the first unfinished step.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from cycle.core.io import atomic_write_text
from cycle.core.runs import MANIFEST, Run
from cycle.core.schemas import PipelineConfig
from cycle.core.stages import discover_stages
from cycle.core.steps import run_child


def _common_overrides(cfg: PipelineConfig) -> list[str]:
    out = [f"paths.root_dir={cfg.paths.root_dir}", f"seed={cfg.seed}", f"logger={cfg.logger.name}"]
    if cfg.logger.name == "wandb":
        out.append(f"logger.mode={cfg.logger.mode}")
    if cfg.experiment_name != "default":
        out.append(f"experiment={cfg.experiment_name}")
    if cfg.threads is not None:
        out.append(f"threads={cfg.threads}")
    return out


def run_step(
    name: str, stage: str, overrides: list[str], run_dir: Path, log_dir: Path
) -> dict[str, Any]:
    """Run one stage as ``cycle <stage>`` in a child process; its output goes to the console and
    to ``<name>.log``. The stage runner itself skips a step that completed with the same config."""
    start = time.monotonic()
    run_child(
        "cycle.core.cli",
        [stage, *overrides, f"hydra.run.dir={run_dir}"],
        step=f"step '{name}' (cycle {stage})",
        announce=f"step {name}",
        log_path=log_dir / f"{name}.log",
    )
    manifest = json.loads((run_dir / MANIFEST).read_text())
    return {"seconds": round(time.monotonic() - start, 1), "dir": str(run_dir), **manifest}


def _figures(step: dict[str, Any]) -> list[Path]:
    root = Path(step["dir"])
    return sorted(
        root / a["path"]
        for a in step.get("artifacts", {}).values()
        if str(a.get("path", "")).endswith(".png")
    )


def _rebase_images(markdown: Path, report_dir: Path) -> str:
    """A step's markdown with its relative image links made relative to the pipeline report."""

    def rebase(m: re.Match[str]) -> str:
        target = m.group(2)
        if "://" in target or os.path.isabs(target):
            return m.group(0)
        return f"{m.group(1)}({os.path.relpath(markdown.parent / target, report_dir)})"

    return re.sub(r"(!\[[^\]]*\])\(([^)]+)\)", rebase, markdown.read_text(encoding="utf-8").strip())


# First-sample parse rates: the policy each generate step samples (experiment=smol runs all three).
POLICY_STEPS = {"generate_base": "base", "generate_sft": "SFT (P_0)", "generate": "final"}


def learning_summary(steps: dict[str, dict[str, Any]]) -> list[str]:
    """What the cycle learned, from the steps' own metrics: each model reviewer's parse rate and
    Proxy MAE (trained vs untrained), the share of first samples that parse to a paper (title,
    abstract, two sections) for the base, SFT and final policy, the reviewer's score per round."""
    out: list[str] = []
    metrics = {name: s.get("metrics", {}) for name, s in steps.items()}
    reviewers = sorted(
        {
            k.rsplit("/", 1)[0]
            for k in metrics.get("evaluate_reviewer", {})
            if k.endswith("/parse_rate")
        }
    )
    if reviewers:
        m = metrics["evaluate_reviewer"]
        out += [
            "",
            "| reviewer | parse rate | Proxy MAE (n−1) | decision accuracy |",
            "|---|---|---|---|",
        ]
        out += [
            f"| {r} | {_num(m.get(f'{r}/parse_rate'))} | {_num(m.get(f'{r}/mae_n1'))} "
            f"| {_num(m.get(f'{r}/accuracy'))} |"
            for r in reviewers
        ]
    policies = [(label, metrics[name]) for name, label in POLICY_STEPS.items() if name in metrics]
    if policies:
        out += ["", "| policy | first samples that parse |", "|---|---|"]
        out += [f"| {label} | {_first_samples(m)} |" for label, m in policies]
    loop = metrics.get("rlloop", {})
    rounds = sorted({int(k.split("/")[0][6:]) for k in loop if k.startswith("round_")})
    if rounds:
        out += ["", "| round | reviewer score of its samples | held-out score after it | pairs |"]
        out += ["|---|---|---|---|"]
        if "baseline/mean_score" in loop:
            out += [f"| before (P_0) | – | {_num(loop['baseline/mean_score'])} | – |"]
        out += [
            f"| {t} | {_num(loop.get(f'round_{t}/sample_mean_score'))} "
            f"| {_num(loop.get(f'round_{t}/eval_mean_score'))} | {loop.get(f'round_{t}/pairs', '–')} |"
            for t in rounds
        ]
    return ["", "## Learning", *out] if out else []


def _first_samples(generate: dict[str, Any]) -> str:
    """``k/n``: of a generate step's n papers, the k whose first sample parsed (before any
    resampling; ``complete_papers`` counts them after it)."""
    rate, papers = generate.get("first_attempt_complete_rate"), generate.get("papers")
    if rate is None or not papers:
        return "–"
    return f"{round(rate * papers)}/{papers}"


def _num(value: Any) -> str:
    return "–" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def render_report(steps: dict[str, dict[str, Any]], report_dir: Path) -> str:
    """One markdown page: each step's status, time, metrics, rejected records, figures and reports."""
    lines = [
        "# cycle pipeline report",
        "",
        "| step | stage | status | seconds | run directory |",
        "|---|---|---|---|---|",
    ]
    for name, s in steps.items():
        lines.append(f"| {name} | {s['stage']} | {s['status']} | {s['seconds']} | `{s['dir']}` |")
    lines += learning_summary(steps)
    for name, s in steps.items():
        lines += ["", f"## {name}", ""]
        metrics = {k: v for k, v in s.get("metrics", {}).items() if not isinstance(v, (dict, list))}
        if metrics:
            lines += ["| metric | value |", "|---|---|"]
            lines += [
                f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |"
                for k, v in sorted(metrics.items())
            ]
        if s.get("rejected"):
            lines += [
                "",
                "Rejected records: "
                + ", ".join(f"{k}: {v}" for k, v in sorted(s["rejected"].items())),
            ]
        shown = ""  # the step's own markdown reports, as included
        for a_name, a in sorted(s.get("artifacts", {}).items()):
            path = Path(s["dir"]) / a["path"]
            if path.suffix == ".md":
                text = _rebase_images(path, report_dir)
                shown += text
                lines += ["", f"### {a_name}", "", text]
        for fig in _figures(s):
            link = os.path.relpath(fig, report_dir)
            if f"]({link})" not in shown:  # a step's own report may already show it
                lines += ["", f"![{name}: {fig.stem}]({link})"]
    return "\n".join(lines) + "\n"


def pipeline(cfg: PipelineConfig, run: Run) -> dict[str, Any]:
    installed = discover_stages()
    steps = {name: step for name, step in cfg.steps.items() if step.enabled}
    missing = {s.stage for s in steps.values()} - set(installed)
    if missing:
        raise RuntimeError(
            f"stages not installed: {sorted(missing)} (pip install -e packages/<name>)"
        )
    common = _common_overrides(cfg)
    results: dict[str, dict[str, Any]] = {}
    log_dir = run.dir / "logs"
    log_dir.mkdir(exist_ok=True)
    for name, step in steps.items():
        # runs/<stage>/<experiment>, where the next steps look; a second step of the same stage
        # (e.g. generate_base) gets its own directory, runs/<step name>/<experiment>
        run_dir = Path(cfg.paths.runs_dir) / name / cfg.experiment_name
        if cfg.seed != 0:  # as `cycle <stage> seed=N` names its run directory
            run_dir = run_dir / f"seed={cfg.seed}"
        overrides = [*common, *step.overrides]
        results[name] = {
            "stage": step.stage,
            **run_step(name, step.stage, overrides, run_dir, log_dir),
        }
    report = render_report(results, run.dir)
    atomic_write_text(run.path("report.md"), report)
    run.add_artifact("report", run.path("report.md"))
    summary = {
        f"{name}/{k}": v
        for name, s in results.items()
        for k, v in s.get("metrics", {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    _log_summary(cfg, run, summary)
    return {"steps": len(results), **summary}


def _log_summary(cfg: PipelineConfig, run: Run, summary: dict[str, float]) -> None:
    from cycle.core.tracking import finish, stage_logger

    logger = stage_logger(cfg, run.dir)
    logger.log_metrics(summary)
    finish(logger)
