"""LaTeX tables of a paper: main results, ablation, cost and sensitivity."""

from __future__ import annotations

import random

from cycle.data.sample_corpus.areas import Dataset
from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.knobs import Knobs
from cycle.data.sample_corpus.spec import PaperSpec, fmt
from cycle.data.sample_corpus.text import join_and, pick, title_case


def _cell(spec: PaperSpec, d: Dataset, mean: float, std: float, bold: bool) -> str:
    text = fmt(d, mean)
    if bold:
        text = f"\\textbf{{{text}}}"
    if spec.knobs.error_bars:
        text += f" $\\pm$ {fmt(d, std)}"
    return text


def _rigor_caption(k: Knobs) -> str:
    if k.error_bars:
        return f" Mean $\\pm$ standard deviation over {k.n_seeds} seeds."
    if k.n_seeds > 1:
        return f" Averaged over {k.n_seeds} seeds."
    return ""


def main_table(spec: PaperSpec, cb: CiteBook) -> str:
    ds = spec.datasets
    arrow = {True: "$\\uparrow$", False: "$\\downarrow$"}
    header = (
        "Method & " + " & ".join(f"{d.name} ({d.metric} {arrow[d.higher]})" for d in ds) + " \\\\"
    )
    rows = []
    for m in [*spec.baselines, spec.method]:
        name = f"{spec.method_tex} (ours)" if m == spec.method else f"{m}{cb.of(m)}"
        cells = [
            _cell(spec, d, *spec.main[m][d.name], spec.main[m][d.name][0] == spec.best_value(d))
            for d in ds
        ]
        rows.append(f"{name} & " + " & ".join(cells) + " \\\\")
        if m == spec.baselines[-1]:
            rows.append("\\midrule")
    caption = f"Main results on {join_and([d.name for d in ds])}. Best results in bold.{_rigor_caption(spec.knobs)}"
    return (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{{caption}}}\n\\label{{tab:main}}\n"
        f"\\begin{{tabular}}{{l{'c' * len(ds)}}}\n\\toprule\n{header}\n\\midrule\n"
        + "\n".join(rows)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{table}"
    )


def ablation_block(rng: random.Random, spec: PaperSpec, level: str) -> str:
    cols = spec.datasets[:2]
    full = spec.ablation_rows[0][1]
    drops = [(abs(row[0] - full[0]), name) for name, row in spec.ablation_rows[1:]]
    worst = max(drops)
    header = "Variant & " + " & ".join(f"{d.name} ({d.metric})" for d in cols) + " \\\\"
    rows = [
        f"{name} & " + " & ".join(fmt(d, v) for d, v in zip(cols, row, strict=True)) + " \\\\"
        for name, row in spec.ablation_rows
    ]
    table = (
        "\\begin{table}[t]\n\\centering\n"
        f"\\caption{{Ablation of the components of {spec.method_tex}.{_rigor_caption(spec.knobs)}}}\n\\label{{tab:ablation}}\n"
        f"\\begin{{tabular}}{{l{'c' * len(cols)}}}\n\\toprule\n{header}\n\\midrule\n"
        + "\n".join(rows)
        + "\n\\bottomrule\n\\end{tabular}\n\\end{table}"
    )
    text = pick(
        rng,
        (
            "To understand the contribution of each component, we remove them one at a time (Table~\\ref{tab:ablation}).",
            "Table~\\ref{tab:ablation} reports an ablation study in which each component of <M> is removed in turn.",
            "We ablate the three components of <M> on <primary> (Table~\\ref{tab:ablation}).",
        ),
        {"M": spec.method_tex, "primary": spec.primary.name},
    )
    text += (
        f" Removing the {worst[1].removeprefix('w/o ')} causes the largest change on {cols[0].name} "
        f"({fmt(cols[0], worst[0])} {cols[0].metric}), and every component contributes to the final result."
    )
    heading = (
        "\\section{Ablation Studies}\n\\label{sec:ablation}"
        if level == "section"
        else "\\subsection{Ablation Study}"
    )
    return f"{heading}\n{text}\n\n{table}"


def extra_tables(rng: random.Random, spec: PaperSpec) -> list[str]:
    d = spec.primary
    out = []
    kinds = ["cost", "sensitivity"][: spec.knobs.n_extra_tables]
    for kind in kinds:
        if kind == "cost":
            methods = [*spec.baselines[:3], spec.method]
            rows = []
            for m in methods:
                params = rng.uniform(20, 400)
                step = rng.uniform(50, 900)
                mem = rng.uniform(4, 60)
                name = f"{spec.method_tex} (ours)" if m == spec.method else m
                rows.append(f"{name} & {params:.1f} & {step:.0f} & {mem:.1f} \\\\")
            out.append(
                "\\subsection{Computational Cost}\n"
                + f"Table~\\ref{{tab:cost}} compares the number of parameters, the time per training step and the peak memory of {spec.method_tex} "
                "with the baselines, measured on the same hardware.\n\n"
                "\\begin{table}[t]\n\\centering\n\\caption{Computational cost.}\n\\label{tab:cost}\n"
                "\\begin{tabular}{lccc}\n\\toprule\nMethod & Params (M) & Time / step (ms) & Memory (GB) \\\\\n\\midrule\n"
                + "\n".join(rows)
                + "\n\\bottomrule\n\\end{tabular}\n\\end{table}"
            )
        else:
            sym, desc, values = spec.hyper
            ours = spec.main[spec.method][d.name][0]
            peak = rng.randrange(len(values))
            cells = []
            for i, _ in enumerate(values):
                delta = abs(i - peak) * (d.hi - d.lo) * rng.uniform(0.005, 0.03)
                cells.append(fmt(d, ours - delta if d.higher else ours + delta))
            out.append(
                f"\\subsection{{Sensitivity to the {title_case(desc)}}}\n"
                + f"We vary the {desc} {sym} and report {d.metric} on {d.name} in Table~\\ref{{tab:sensitivity}}. "
                + "Performance is stable over a wide range of values.\n\n"
                "\\begin{table}[t]\n\\centering\n"
                f"\\caption{{Sensitivity to the {desc} on {d.name}.}}\n\\label{{tab:sensitivity}}\n"
                f"\\begin{{tabular}}{{l{'c' * len(values)}}}\n\\toprule\n"
                f"{sym} & " + " & ".join(values) + " \\\\\n\\midrule\n"
                f"{d.metric} & "
                + " & ".join(cells)
                + " \\\\\n\\bottomrule\n\\end{tabular}\n\\end{table}"
            )
    return out
