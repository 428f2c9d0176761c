"""Paper-quality metrics: Table 2/3 (review statistics), Figure 3 (best of N), Table 7 (citations).

Review statistics are taken as records, one per paper, so any reviewer (or human reviews) can
feed them: ``{"paper_id", "ratings": [...], "soundness": [...], "presentation": [...],
"contribution": [...], "decision": "Accept" | "Reject" | "" }`` (an ``"accept": bool`` may stand
in for ``decision``). Per paper, min / max / mean are taken over its reviews; the table reports
their means over papers, as the paper's Table 2 does.
"""

from __future__ import annotations

import logging
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cycle.core.io import atomic_write_text, save_figure
from cycle.data.decision import is_accept
from cycle.researcher.protocol import GeneratedPaper, parse_outline_turn
from cycle.researcher.selection import best_of_n_curve

log = logging.getLogger(__name__)

TABLE_COLUMNS = (
    ("avg_min_score", "Avg Min Score"),
    ("avg_max_score", "Avg Max Score"),
    ("avg_score", "Avg Score"),
    ("accept_rate", "Accept Rate"),
    ("soundness", "Soundness"),
    ("presentation", "Presentation"),
    ("contribution", "Contribution"),
)
_CITE = re.compile(r"\\(?:no)?[cC]ite[a-zA-Z]*\*?(?:\s*\[[^\]]*\]){0,2}\s*\{([^}]*)\}")


def cited_keys(latex: str) -> set[str]:
    """Every key of every ``\\cite``-family command (``\\citep[p.~3]{a,b}`` gives a and b)."""
    return {k.strip() for group in _CITE.findall(latex) for k in group.split(",") if k.strip()}


def paper_cited_keys(paper: GeneratedPaper) -> set[str]:
    """Keys cited in the paper's abstract and sections."""
    return cited_keys("\n".join(body for _, body in paper.sections) + "\n" + paper.abstract)


def references_cited(paper: GeneratedPaper) -> int:
    """Distinct cited keys that resolve to the paper's bibliography (paper Table 7)."""
    return len(paper_cited_keys(paper) & {r.key for r in paper.references if r.key})


def citation_warning(papers: Sequence[GeneratedPaper], cited: Sequence[int]) -> str | None:
    """A warning when papers cite keys but none of them is a key of their bibliographies (the
    references carry no bib keys, e.g. S2 ids instead of the keys of the prompt)."""
    citing = sum(bool(paper_cited_keys(p)) for p in papers)
    if citing and not any(cited):
        return (
            f"{citing} papers cite keys but no cited key is in their bibliography: the "
            "references carry no bib keys the papers could cite, so Table 7 counts nothing"
        )
    return None


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return statistics.fmean(values) if values else None


def _accepted(record: Mapping[str, Any]) -> bool | None:
    if "accept" in record and record["accept"] is not None:
        return bool(record["accept"])
    decision = str(record.get("decision") or "").lower()
    if not decision:
        return None
    return is_accept(decision)


def quality_table(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Table 2/3 statistics over papers; papers without ratings are counted and left out."""
    rated = [r for r in records if [x for x in r.get("ratings") or [] if x is not None]]

    def per_paper(key: str, fn: Any) -> float | None:
        vals = [fn(v) for r in rated if (v := [x for x in r.get(key) or [] if x is not None])]
        return _mean(vals)

    decisions = [d for r in rated if (d := _accepted(r)) is not None]
    return {
        "papers": len(records),
        "rated_papers": len(rated),
        "avg_min_score": per_paper("ratings", min),
        "avg_max_score": per_paper("ratings", max),
        "avg_score": per_paper("ratings", statistics.fmean),
        "accept_rate": _mean(float(d) for d in decisions),
        "soundness": per_paper("soundness", statistics.fmean),
        "presentation": per_paper("presentation", statistics.fmean),
        "contribution": per_paper("contribution", statistics.fmean),
    }


def _fmt(key: str, value: float | None) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f}%" if key == "accept_rate" else f"{value:.2f}"


def quality_markdown(tables: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per system (e.g. ``{"CycleResearcher-12B": quality_table(...)}``)."""
    head = "| System | Papers | " + " | ".join(name for _, name in TABLE_COLUMNS) + " |"
    rule = "|---|---:|" + "---:|" * len(TABLE_COLUMNS)
    rows = [
        f"| {system} | {t['rated_papers']} | "
        + " | ".join(_fmt(k, t.get(k)) for k, _ in TABLE_COLUMNS)
        + " |"
        for system, t in tables.items()
    ]
    return "\n".join([head, rule, *rows])


def curve_markdown(curve: Mapping[int, float]) -> str:
    head = "| N | " + " | ".join(str(n) for n in curve) + " |"
    rule = "|---|" + "---:|" * len(curve)
    return "\n".join(
        [
            head,
            rule,
            "| expected best score | " + " | ".join(f"{v:.2f}" for v in curve.values()) + " |",
        ]
    )


def plot_curve(curve: Mapping[int, float], path: str | Path) -> Path:
    """Figure 3: expected best score against the number of samples N (log x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    xs, ys = list(curve), list(curve.values())
    ax.plot(xs, ys, marker="o")
    if len(xs) > 1 and max(xs) / min(xs) >= 10:
        ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.set_xlabel("samples per prompt (N)")
    ax.set_ylabel("expected best score")
    ax.set_title("Rejection sampling (best of N)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_report(
    out_dir: str | Path,
    papers: Sequence[GeneratedPaper],
    review_records: Sequence[Mapping[str, Any]] | None = None,
    score_groups: Sequence[Sequence[float | None]] | None = None,
    system: str = "CycleResearcher",
    ns: Sequence[int] = (1, 5, 10, 50, 100),
    wandb_run: Any = None,
) -> dict[str, Any]:
    """``report.md`` (+ ``best_of_n.png``) under ``out_dir``; the same numbers to ``wandb_run``.

    Returns the metrics and the written file paths (``files``).
    """
    out_dir = Path(out_dir)
    cited = [references_cited(p) for p in papers]
    complete = [p.complete for p in papers]
    first_try = [
        p.outline_attempts == 1 and parse_outline_turn(p.outline_text).complete for p in papers
    ]
    metrics: dict[str, Any] = {
        "papers": len(papers),
        "complete_rate": _mean(float(c) for c in complete),
        "first_attempt_complete_rate": _mean(float(c) for c in first_try),
        "outline_resampled": sum(p.outline_attempts > 1 for p in papers),
        "mean_references_cited": _mean(cited),
        "mean_references_given": _mean(len(p.references) for p in papers),
    }
    parts = [
        f"# Paper report: {system}",
        "",
        f"{len(papers)} papers; {sum(complete)} parse to a title, an abstract and at least two sections "
        f"({_fmt('accept_rate', metrics['complete_rate'])}).",
    ]
    if metrics["outline_resampled"]:
        parts += [
            "",
            f"First turns that did not parse were sampled again: {metrics['outline_resampled']} "
            f"papers took more than one sample (at most {max(p.outline_attempts for p in papers)}); "
            f"{sum(first_try)} parsed at the first sample "
            f"({_fmt('accept_rate', metrics['first_attempt_complete_rate'])}).",
        ]
    parts += [
        "",
        "## References cited (Table 7)",
        "",
        "| System | Papers | Mean references cited | Mean references given |",
        "|---|---:|---:|---:|",
        f"| {system} | {len(papers)} | {_fmt('', metrics['mean_references_cited'])} | "
        f"{_fmt('', metrics['mean_references_given'])} |",
    ]
    if warning := citation_warning(papers, cited):
        log.warning("paper report: %s", warning)
        parts += ["", f"Warning: {warning}."]
    files: dict[str, Path] = {}
    table = None
    if review_records is not None:
        table = quality_table(review_records)
        metrics.update({f"quality/{k}": v for k, v in table.items()})
        parts += ["", "## Review scores (Table 2/3)", "", quality_markdown({system: table})]
    curve: dict[int, float] = {}
    if score_groups is not None:
        curve = best_of_n_curve(score_groups, ns)
        metrics.update({f"best_of_n/{n}": v for n, v in curve.items()})
        if curve:
            files["best_of_n"] = plot_curve(curve, out_dir / "best_of_n.png")
            parts += [
                "",
                "## Rejection sampling (Figure 3)",
                "",
                curve_markdown(curve),
                "",
                "![best of N](best_of_n.png)",
            ]
    files["report"] = atomic_write_text(out_dir / "report.md", "\n".join(parts) + "\n")
    if wandb_run is not None:
        _log_wandb(wandb_run, metrics, table, curve, files, system)
    metrics["files"] = {k: str(v) for k, v in files.items()}
    return metrics


def _log_wandb(
    run: Any,
    metrics: Mapping[str, Any],
    table: Mapping[str, Any] | None,
    curve: Mapping[int, float],
    files: Mapping[str, Path],
    system: str,
) -> None:
    import wandb

    payload: dict[str, Any] = {
        f"paper_report/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))
    }
    if table is not None:
        columns = ["system", *[name for _, name in TABLE_COLUMNS]]
        payload["paper_report/quality"] = wandb.Table(
            columns=columns, data=[[system, *[table.get(k) for k, _ in TABLE_COLUMNS]]]
        )
    if curve:
        payload["paper_report/best_of_n_table"] = wandb.Table(
            columns=["N", "expected_best_score"], data=[[n, v] for n, v in curve.items()]
        )
        payload["paper_report/best_of_n"] = wandb.Image(str(files["best_of_n"]))
    run.log(payload)
