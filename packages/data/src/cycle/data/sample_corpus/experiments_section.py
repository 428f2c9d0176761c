"""LaTeX text of a paper's experiments (and ablation) section, showing the paper's knobs."""

from __future__ import annotations

import random
from typing import Any

from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.section_context import filler
from cycle.data.sample_corpus.spec import PaperSpec, rel_change
from cycle.data.sample_corpus.tables import ablation_block, extra_tables, main_table
from cycle.data.sample_corpus.text import join_and, pick, plural

EXCUSES = (
    "the small size of this dataset",
    "its different label distribution",
    "the heavier tuning reported for this baseline",
)


def experiments_section(
    rng: random.Random, spec: PaperSpec, cb: CiteBook, ctx: dict[str, Any], anonymous: bool
) -> tuple[str, str]:
    """The experiments section, and a separate ablation section ("" unless it is one)."""
    k = spec.knobs
    ds_cites = join_and([f"{d.name}{cb.of(d.name)}" for d in spec.datasets])
    if k.n_datasets == 1:
        datasets = f"\\paragraph{{Datasets.}} We evaluate on {ds_cites}, a standard benchmark for {spec.area.task}."
    else:
        datasets = f"\\paragraph{{Datasets.}} We evaluate on {plural(k.n_datasets, 'dataset')}: {ds_cites}."
    metrics = sorted(
        {f"{d.metric} ({'higher' if d.higher else 'lower'} is better)" for d in spec.datasets}
    )
    datasets += f" We report {join_and(metrics)}."
    bl_cites = join_and([f"{b}{cb.of(b)}" for b in spec.baselines])
    if k.n_baselines == 1:
        baselines = f"\\paragraph{{Baselines.}} We compare {spec.method_tex} with {bl_cites}, the most widely used method for {spec.area.task}."
    else:
        baselines = f"\\paragraph{{Baselines.}} We compare {spec.method_tex} with {plural(k.n_baselines, 'baseline')}: {bl_cites}."
        if k.n_baselines >= 4:
            baselines += " All baselines use the same backbone and training budget as our method."
    lr = rng.choice(("$3 \\times 10^{-4}$", "$10^{-3}$", "$5 \\times 10^{-5}$", "$0.1$"))
    impl = (
        f"\\paragraph{{Implementation details.}} All models use {spec.area.backbone}. "
        f"We train with {rng.choice(('AdamW', 'Adam', 'SGD with momentum 0.9'))} "
        f"(learning rate {lr}, "
        f"batch size {rng.choice((32, 64, 128, 256, 512, 1024))}) for {rng.choice(('50k steps', '100k steps', '200k steps', '20 epochs', '300 epochs'))} "
        f"on {rng.choice(('8 NVIDIA A100 GPUs', 'a single NVIDIA V100 GPU', '4 NVIDIA RTX 3090 GPUs', '8 TPU v3 cores'))}."
    )
    if k.n_seeds > 1:
        impl += f" Every experiment is repeated with {k.n_seeds} random seeds" + (
            " and we report the mean and standard deviation." if k.error_bars else "."
        )
    elif rng.random() < 0.5:
        impl += " Each configuration is trained once."
    if k.code:
        impl += (
            " Code is provided in the supplementary material and will be released upon publication."
            if anonymous
            else f" Our code is available at \\url{{https://github.com/{rng.choice(('northbridge-ml', 'redwood-ai', 'eastvale-lab', 'summit-research'))}/{spec.method.lower()}}}."
        )
    setup = f"\\subsection{{{rng.choice(('Experimental Setup', 'Setup'))}}}\n" + "\n\n".join(
        (datasets, baselines, impl)
    )

    wins = spec.wins()
    res = ["Table~\\ref{tab:main} summarises the results."]
    if k.clarity == 1:
        res.append("As can be seen, our method is significantly better in almost all cases.")
    else:
        if k.n_datasets > 1:
            res.append(
                f"{spec.method_tex} achieves the best result on {sum(wins)} of the {k.n_datasets} datasets."
            )
        gains = [
            (
                rel_change(
                    d,
                    spec.main[spec.method][d.name][0],
                    spec.main[spec.best_baseline(d)][d.name][0],
                ),
                d,
            )
            for d, w in zip(spec.datasets, wins, strict=True)
            if w
        ]
        if gains:
            gain, d = max(gains, key=lambda x: x[0])
            verb = "improves" if d.higher else "reduces"
            res.append(
                f"The largest gain is on {d.name}, where it {verb} {d.metric} by {gain:.1f}\\% relative to {spec.best_baseline(d)}."
            )
        lost = [d for d, w in zip(spec.datasets, wins, strict=True) if not w]
        if lost and k.clarity >= 3:
            d = lost[0]
            res.append(
                f"On {d.name}, {spec.best_baseline(d)} remains slightly stronger; we attribute this to {rng.choice(EXCUSES)}."
            )
        if k.error_bars:
            clear = sum(
                1
                for d, w in zip(spec.datasets, wins, strict=True)
                if w
                and abs(
                    spec.main[spec.method][d.name][0] - spec.main[spec.best_baseline(d)][d.name][0]
                )
                > spec.main[spec.method][d.name][1]
            )
            res.append(
                f"The improvement exceeds one standard deviation on {clear} of the {k.n_datasets} datasets."
            )
    res_text = " ".join(res) + filler(rng, k)
    results = f"\\subsection{{{rng.choice(('Main Results', 'Results', 'Comparison with Baselines'))}}}\n{res_text}\n\n{main_table(spec, cb)}"
    blocks = [setup, results]
    separate_ablation = ""
    if k.ablation:
        if rng.random() < 0.3:
            separate_ablation = ablation_block(rng, spec, "section") + "\n"
        else:
            blocks.append(ablation_block(rng, spec, "subsection"))
    blocks += extra_tables(rng, spec)
    intro = pick(
        rng,
        (
            "We evaluate <M> on <ds_list> and compare it with <bl_list>.",
            "This section evaluates <M> empirically.",
            "We now turn to the empirical evaluation of <M>.",
        ),
        ctx,
    )
    text = (
        f"\\section{{{spec.headings['experiments']}}}\n\\label{{sec:exp}}\n{intro}\n\n"
        + "\n\n".join(blocks)
        + "\n"
    )
    return text, separate_ablation
