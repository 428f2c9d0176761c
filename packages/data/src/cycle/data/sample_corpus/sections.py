"""LaTeX text of a paper's abstract and sections, each showing the paper's knobs."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.knobs import Knobs
from cycle.data.sample_corpus.spec import PaperSpec, rel_change
from cycle.data.sample_corpus.tables import ablation_block, extra_tables, main_table
from cycle.data.sample_corpus.text import NUM_WORDS, cap, fill, join_and, pick, plural, title_case

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
FILLERS = (
    "It is well known that this is a very important problem.",
    "As can be seen, this works very well in practice.",
    "This is clearly significant for many applications.",
    "Note that the above is quite general and can be extended in many ways.",
    "We believe this is a very promising direction.",
)
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
EXCUSES = (
    "the small size of this dataset",
    "its different label distribution",
    "the heavier tuning reported for this baseline",
)


def _missing(rng: random.Random, pool: Sequence[Any], used: Sequence[Any], default: Any) -> Any:
    rest = [x for x in pool if x not in used]
    return rng.choice(rest) if rest else default


def text_context(rng: random.Random, spec: PaperSpec) -> dict[str, Any]:
    a, k = spec.area, spec.knobs
    missing_ds = _missing(rng, a.datasets, spec.datasets, None)
    return {
        "M": spec.method_tex,
        "Mp": spec.method,
        "task": a.task,
        "Task": cap(a.task),
        "problem": a.problem,
        "Problem": cap(a.problem),
        "issue": a.issue,
        "mech": spec.mechanism,
        "comp_a": spec.components[0],
        "comp_b": spec.components[1],
        "comp_c": spec.components[2],
        "backbone": a.backbone,
        "b1": spec.baselines[0],
        "b_last": spec.baselines[-1],
        "n_ds": NUM_WORDS[k.n_datasets],
        "n_bl": NUM_WORDS[k.n_baselines],
        "ds_list": join_and([d.name for d in spec.datasets]),
        "bl_list": join_and(spec.baselines),
        "primary": spec.primary.name,
        "metric": spec.primary.metric,
        "missing_ds": missing_ds.name if missing_ds else "larger-scale benchmarks",
        "missing_bl": _missing(rng, a.baselines, spec.baselines, "more recent methods"),
        "seeds": k.n_seeds,
        "nc": k.n_citations,
        "hyper_desc": spec.hyper[1],
        "hyper_sym": spec.hyper[0],
        "topic_b": rng.choice(a.topics),
    }


def _filler(rng: random.Random, k: Knobs, p: float = 0.6) -> str:
    return (
        " " + rng.choice(FILLERS)
        if k.clarity == 1 or (k.clarity == 2 and rng.random() < p / 2)
        else ""
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
    p2 += _filler(rng, k)
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
        + _filler(rng, k)
    )
    return (
        f"\\section{{{spec.headings['related']}}}\n\\label{{sec:related}}\n"
        + "\n\n".join(blocks)
        + "\n"
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
        + _filler(rng, k)
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
        + _filler(rng, k)
    )
    return (
        f"\\section{{{spec.headings['method']}}}\n\\label{{sec:method}}\n"
        + "\n\n".join(parts)
        + "\n"
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
    res_text = " ".join(res) + _filler(rng, k)
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
