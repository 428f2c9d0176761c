"""LaTeX text of a paper's method section, showing the paper's knobs."""

from __future__ import annotations

import random
from typing import Any

from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.section_context import filler
from cycle.data.sample_corpus.spec import PaperSpec
from cycle.data.sample_corpus.text import cap, fill, pick, title_case

COMP_ISSUES = (
    "the instability observed early in training",
    "the mismatch between training and inference",
    "the variance of the resulting estimator",
    "the additional cost that a naive implementation would incur",
    "the sensitivity of the method to its hyperparameters",
)
COMP_IMPLS = (
    "a single linear layer",
    "a small two-layer MLP",
    "a closed-form update that adds negligible cost",
    "an exponential moving average with decay 0.99",
    "a stop-gradient on the target branch",
)


def method_section(rng: random.Random, spec: PaperSpec, cb: CiteBook, ctx: dict[str, Any]) -> str:
    a, k = spec.area, spec.knobs
    parts = [
        pick(
            rng,
            (
                "We now describe <M>. We first introduce the setting and then describe each component.",
                "This section presents <M>, starting from the problem setting.",
                "<M> is built around one idea: <mech>.",
            ),
            ctx,
        )
    ]
    if k.clarity >= 3 or (k.clarity == 2 and rng.random() < 0.5):
        parts.append(
            f"\\subsection{{{rng.choice(('Problem Setup', 'Preliminaries', 'Notation and Setting'))}}}\n{a.setup}"
        )
    where = (
        "where all quantities are as defined above."
        if k.clarity >= 3
        else r"where $\Psi_t$ is defined analogously and $\tilde{\mathcal{H}}$ denotes the corresponding quantity from before."
    )
    parts.append(
        f"\\subsection{{{rng.choice(('Overview', 'Formulation', spec.method))}}}\n"
        + fill("<M> works by <mech>. Formally, we compute\n", ctx)
        + f"\\begin{{equation}}\n  {a.equation}\n  \\label{{eq:main}}\n\\end{{equation}}\n{where}"
        + filler(rng, k)
    )
    comp_style = rng.choice(("subsection", "paragraph"))
    for comp in spec.components:
        sents = [
            f"The {comp} component addresses {rng.choice(COMP_ISSUES)}.",
            pick(
                rng,
                (
                    "Without it, the method reduces to <b1>.",
                    "Without it, performance degrades on the harder benchmarks.",
                    "Without it, training diverges for large learning rates.",
                    "Without it, the improvements vanish at larger scales.",
                ),
                ctx,
            ),
            f"We implement it with {rng.choice(COMP_IMPLS)}.",
        ]
        if k.novelty <= 2 and rng.random() < 0.5:
            sents.append(
                f"This component closely follows {spec.baselines[0]}{cb.of(spec.baselines[0])}."
            )
        if comp_style == "subsection":
            parts.append(f"\\subsection{{{title_case(comp)}}}\n" + " ".join(sents))
        else:
            parts.append(f"\\paragraph{{{cap(comp)}.}} " + " ".join(sents))
    overhead = rng.randint(2, 15)
    parts.append(
        f"\\subsection{{{rng.choice(('Training Objective', 'Training', 'Objective and Optimization'))}}}\n"
        + fill("We train <M> end to end by minimising\n", ctx)
        + f"\\begin{{equation}}\n  {a.objective}\n  \\label{{eq:loss}}\n\\end{{equation}}\n"
        + "where $\\lambda$ balances the two terms. "
        + f"Compared with {spec.baselines[0]}, {spec.method_tex} adds about {overhead}\\% overhead per training step."
        + filler(rng, k)
    )
    return (
        f"\\section{{{spec.headings['method']}}}\n\\label{{sec:method}}\n"
        + "\n\n".join(parts)
        + "\n"
    )
