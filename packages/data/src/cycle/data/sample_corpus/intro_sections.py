"""LaTeX text of a paper's introduction and related work, each showing the paper's knobs."""

from __future__ import annotations

import random
from typing import Any

from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.section_context import filler
from cycle.data.sample_corpus.spec import PaperSpec, rel_change
from cycle.data.sample_corpus.text import cap, fill, join_and, pick, plural, title_case

DRAWBACKS = (
    "rely on hand-tuned hyperparameters that do not transfer across settings",
    "trade accuracy for efficiency in ways that are hard to control",
    "offer no guarantee that training remains stable",
    "require substantially more compute than the methods they improve upon",
    "degrade sharply as the scale of the problem grows",
    "have mostly been evaluated on small benchmarks",
)
OBSERVATIONS = (
    "much of the difficulty stems from a small number of poorly conditioned components",
    "the failure modes of existing methods concentrate in a few identifiable situations",
    "the quantity that existing methods approximate can be estimated far more cheaply",
    "the errors of existing methods are strongly correlated across steps and can therefore be corrected",
)
ASPECTS = (
    "improving efficiency",
    "scaling to larger models",
    "theoretical guarantees",
    "reducing the need for tuning",
    "robustness to distribution shift",
    "simplifying training",
)
REQUIREMENTS = (
    "additional training data",
    "a separate auxiliary model",
    "architectural changes to the backbone",
    "per-task hyperparameter tuning",
)
FURTHER = (
    "Subsequent work extended these ideas to new settings<c>.",
    "Several papers analyse this line of work theoretically<c>.",
    "Variants with improved efficiency have also been proposed<c>.",
    "Careful empirical comparisons<c> highlight the importance of tuning.",
    "Related ideas appear in<c>.",
    "Other authors focus on <aspect><c>.",
)


def intro_section(rng: random.Random, spec: PaperSpec, cb: CiteBook, ctx: dict[str, Any]) -> str:
    k = spec.knobs
    bl = spec.baselines[:2]
    bl_cites = join_and([f"{b}{cb.of(b)}" for b in bl])
    p1 = [
        pick(
            rng,
            (
                "<Task> has become a central problem in machine learning<c>.",
                "Recent years have seen rapid progress in <task><c>.",
                "<Task> underpins a growing number of applications<c>, and improvements in it translate directly into downstream gains.",
                "There is growing interest in <task><c>, both as a research problem and as a component of deployed systems.",
                "Much of the recent progress in machine learning has come from advances in <task><c>.",
            ),
            {**ctx, "c": cb.take(rng.randint(1, 3))},
        ),
        pick(
            rng,
            (
                "A persistent obstacle, however, is <problem>.",
                "Yet <problem> remains a key bottleneck.",
                "Despite this progress, existing methods still struggle with <problem>.",
                "The main difficulty is <problem>.",
                "One issue stands out in practice: <problem>.",
            ),
            ctx,
        ),
        pick(
            rng,
            (
                "Methods such as <bl> alleviate the issue, but they <drawback>.",
                "Existing remedies, most prominently <bl>, <drawback>.",
                "Prior work has proposed several fixes, including <bl>; however, these approaches <drawback>.",
            ),
            {**ctx, "bl": bl_cites, "drawback": rng.choice(DRAWBACKS)},
        ),
    ]
    if k.novelty >= 3:
        p2 = pick(
            rng,
            (
                "In this paper we propose <M>, which tackles this issue by <mech>.",
                "We introduce <M>, a new approach to <task> based on <mech>.",
                "This work presents <M>. Our key observation is that <obs>; building on it, <M> works by <mech>.",
            ),
            {**ctx, "obs": rng.choice(OBSERVATIONS)},
        )
    else:
        p2 = pick(
            rng,
            (
                "In this paper we propose <M>, which extends <b1><cb1> by <mech>.",
                "We build on <b1><cb1> and propose <M>, which adds <comp_a> and <comp_b> to the original recipe.",
                "Our method, <M>, combines <comp_a> with the training procedure of <b1><cb1>.",
            ),
            {**ctx, "cb1": cb.of(spec.baselines[0])},
        )
    p2 += " " + pick(
        rng,
        (
            "<M> combines <comp_a> with <comp_b>, and uses <comp_c> to stabilise training.",
            "Concretely, <M> has three ingredients: <comp_a>, <comp_b>, and <comp_c>.",
            "The method consists of <comp_a> and <comp_b>, complemented by <comp_c>.",
        ),
        ctx,
    )
    p2 += filler(rng, k)
    paras = [" ".join(p1), p2]
    if k.clarity >= 3 or (k.clarity == 2 and rng.random() < 0.4):
        items = [
            pick(
                rng,
                (
                    "We analyse <issue> and show why existing methods such as <b1> are affected by it.",
                    "We identify <issue> as a key limitation of current approaches to <task>.",
                ),
                ctx,
            ),
            pick(
                rng,
                (
                    "We propose <M>, which is simple to implement and adds little overhead.",
                    "We introduce <M> and describe each of its components in detail.",
                ),
                ctx,
            ),
            fill(
                "We evaluate <M> on <nds> (<ds_list>) against <nbl>"
                + (", and ablate each of its components." if k.ablation else "."),
                {
                    **ctx,
                    "nds": plural(k.n_datasets, "dataset"),
                    "nbl": plural(k.n_baselines, "baseline"),
                },
            ),
        ]
        if k.code:
            items.append("We release our code to facilitate future research.")
        paras.append(
            "Our contributions are as follows:\n\\begin{itemize}\n"
            + "\n".join(f"  \\item {i}" for i in items)
            + "\n\\end{itemize}"
        )
    elif k.clarity == 1:
        paras.append(
            "Overall our approach is better and more general than previous approaches and it works very well as we show in the experiments "
            "in a number of settings and it is also simple to implement and we think it can be useful for many people."
        )
    else:
        paras.append(fill("We evaluate <M> on <ds_list> and discuss its properties.", ctx))
    d = spec.primary
    ours, best_b = spec.main[spec.method][d.name][0], spec.best_baseline(d)
    if k.clarity == 1:
        paras.append("Our results are significantly better than all previous work.")
    elif spec.wins()[0]:
        verb = "improves" if d.higher else "reduces"
        paras.append(
            f"On {d.name}, {spec.method_tex} {verb} {d.metric} by {rel_change(d, ours, spec.main[best_b][d.name][0]):.1f}\\% "
            f"relative to the strongest baseline, {best_b}."
        )
    else:
        paras.append(
            fill("<M> is competitive with the strongest baselines on most benchmarks.", ctx)
        )
    return (
        f"\\section{{{spec.headings['intro']}}}\n\\label{{sec:intro}}\n" + "\n\n".join(paras) + "\n"
    )


def related_section(rng: random.Random, spec: PaperSpec, cb: CiteBook, ctx: dict[str, Any]) -> str:
    k = spec.knobs
    by_topic: dict[str, list[str]] = {}
    for r in cb.general:
        by_topic.setdefault(r.topic, []).append(r.key)
    cb.general = []
    style = "none" if k.clarity == 1 else rng.choice(("paragraph", "paragraph", "subsection"))
    blocks = []
    for topic, keys in by_topic.items():
        chunks = [keys[i : i + 3] for i in range(0, len(keys), 3)]
        sents = [
            pick(
                rng,
                (
                    "The literature on <topic> is extensive<c>.",
                    "A large body of work addresses <topic><c>.",
                    "Early work on <topic><c> focused on <aspect>.",
                    "Considerable attention has been paid to <topic><c>.",
                ),
                {
                    "Topic": cap(topic),
                    "topic": topic,
                    "aspect": rng.choice(ASPECTS),
                    "c": cb.cite(chunks[0]),
                },
            )
        ]
        for chunk in chunks[1:]:
            sents.append(pick(rng, FURTHER, {"aspect": rng.choice(ASPECTS), "c": cb.cite(chunk)}))
        sents.append(
            pick(
                rng,
                (
                    "In contrast to these works, <M> does not require <req>.",
                    "Our method is complementary to these approaches and can be combined with them.",
                    "Unlike these methods, we explicitly address <issue>.",
                    "<M> differs in that it relies on <comp_a> rather than on heuristics.",
                ),
                {**ctx, "req": rng.choice(REQUIREMENTS)},
            )
        )
        body = " ".join(sents)
        if style == "paragraph":
            blocks.append(f"\\paragraph{{{cap(topic)}.}} {body}")
        elif style == "subsection":
            blocks.append(f"\\subsection{{{title_case(topic)}}}\n{body}")
        else:
            blocks.append(body)
    closest = join_and([f"{b}{cb.of(b)}" for b in spec.baselines[:3]])
    blocks.append(
        f"Closest to our work are {closest}, which we compare against in Section~\\ref{{sec:exp}}."
        + filler(rng, k)
    )
    return (
        f"\\section{{{spec.headings['related']}}}\n\\label{{sec:related}}\n"
        + "\n\n".join(blocks)
        + "\n"
    )
