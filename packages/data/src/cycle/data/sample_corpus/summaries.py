"""LaTeX text of a paper's two summaries, the abstract and the conclusion (with its limitations)."""

from __future__ import annotations

import random
from typing import Any

from cycle.data.sample_corpus.spec import PaperSpec, rel_change
from cycle.data.sample_corpus.text import fill, pick, plural

LIMITS = (
    "Our experiments are limited to <backbone>; whether the gains persist at larger scales remains open.",
    "The <comp_a> introduces an additional hyperparameter that has to be tuned for each new dataset.",
    "We have not evaluated <M> on <missing_ds>, which exhibits a different kind of <issue>.",
    "Our analysis assumes access to a reasonably sized validation set, which may not be available in practice.",
    "<M> adds a modest overhead per training step, which may matter in compute-constrained settings.",
)
FUTURE = (
    "extend <M> to other modalities",
    "study its theoretical properties",
    "combine it with <b_last>",
    "scale it to larger models",
)


def conclusion_section(rng: random.Random, spec: PaperSpec, ctx: dict[str, Any]) -> tuple[str, str]:
    """The conclusion, and a separate limitations section ("" unless it is one)."""
    k = spec.knobs
    wins = spec.wins()
    if all(wins):
        summary = "outperforms all baselines"
    elif sum(wins) * 2 >= len(wins):
        summary = "outperforms the baselines on most datasets"
    else:
        summary = "is competitive with the baselines"
    paras = [
        pick(
            rng,
            (
                "We presented <M>, an approach to <task> based on <mech>. Across <nds>, <M> <summary>.",
                "This paper introduced <M> to address <issue>. Our experiments on <nds> show that it <summary>.",
                "We proposed <M>, which combines <comp_a>, <comp_b>, and <comp_c>. On <nds>, it <summary>.",
            ),
            {**ctx, "nds": plural(k.n_datasets, "dataset"), "summary": summary},
        )
    ]
    separate = ""
    if k.limitations:
        limits = " ".join(fill(t, ctx) for t in rng.sample(LIMITS, k=2))
        if rng.random() < 0.3:
            separate = f"\\section{{Limitations}}\n\\label{{sec:limitations}}\n{limits}\n"
        else:
            paras.append(f"\\paragraph{{Limitations.}} {limits}")
    elif k.clarity <= 2 and rng.random() < 0.4:
        paras.append("Our method has no major limitations.")
    paras.append("In future work we plan to " + fill(rng.choice(FUTURE), ctx) + ".")
    return f"\\section{{{spec.headings['conclusion']}}}\n\\label{{sec:conclusion}}\n" + "\n\n".join(
        paras
    ) + "\n", separate


def abstract_text(rng: random.Random, spec: PaperSpec, ctx: dict[str, Any]) -> str:
    """The abstract in LaTeX (plain method name, ``\\%`` for percent signs)."""
    k = spec.knobs
    plain = {**ctx, "M": spec.method}
    s = [
        pick(
            rng,
            (
                "<Task> is limited by <problem>.",
                "<Problem> remains a central challenge in <task>.",
                "Existing approaches to <task> suffer from <problem>.",
            ),
            plain,
        )
    ]
    if k.novelty >= 3:
        s.append(
            pick(
                rng,
                (
                    "We propose <M>, which addresses this by <mech>.",
                    "We introduce <M>, a method based on <mech>.",
                ),
                plain,
            )
        )
    else:
        s.append(
            fill("We propose <M>, an extension of <b1> that adds <comp_a> and <comp_b>.", plain)
        )
    d = spec.primary
    if spec.wins()[0]:
        gain = rel_change(
            d, spec.main[spec.method][d.name][0], spec.main[spec.best_baseline(d)][d.name][0]
        )
        verb = "improving" if d.higher else "reducing"
        s.append(
            f"On {plural(k.n_datasets, 'dataset')} ({plain['ds_list']}), {spec.method} is compared with {plural(k.n_baselines, 'baseline')}, "
            f"{verb} {d.metric} on {d.name} by {gain:.1f}\\% over the strongest one."
        )
    else:
        s.append(
            fill("Experiments on <ds_list> show that <M> is competitive with <bl_list>.", plain)
        )
    if k.ablation:
        s.append("Ablations confirm that each component contributes to the final performance.")
    if k.clarity == 1:
        s.append("Our method is very general and works well in many settings.")
    return " ".join(s)
