"""Knob-driven points a reviewer can make, with how a meta reviewer summarises them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cycle.data.sample_corpus.spec import PaperSpec


@dataclass(frozen=True)
class Reason:
    """A knob-driven point a reviewer can make, with how a meta reviewer summarises it."""

    rid: str
    kind: str  # "strength" or "weakness"
    emphasis: str  # which kind of reviewer cares most: rigor, scope, novelty, clarity
    applies: Callable[[PaperSpec], bool]
    texts: tuple[str, ...]
    meta: str
    questions: tuple[str, ...] = ()


def _all_wins(s: PaperSpec) -> bool:
    return all(s.wins())


REASONS: tuple[Reason, ...] = (
    Reason(
        "many_datasets",
        "strength",
        "scope",
        lambda s: s.knobs.n_datasets >= 3,
        (
            "The evaluation is broad: <Mp> is tested on <n_ds> datasets (<ds_list>).",
            "Experiments span <n_ds> datasets (<ds_list>), which makes the empirical claims fairly convincing.",
            "I appreciate that the method is evaluated on <n_ds> different benchmarks rather than a single one.",
        ),
        "the breadth of the evaluation (<n_ds> datasets)",
    ),
    Reason(
        "many_baselines",
        "strength",
        "scope",
        lambda s: s.knobs.n_baselines >= 5,
        (
            "The comparison includes <n_bl> baselines, among them strong recent methods such as <b_last>.",
            "The set of baselines is strong and comprehensive (<bl_list>).",
        ),
        "the comparison against <n_bl> baselines",
    ),
    Reason(
        "ablation",
        "strength",
        "rigor",
        lambda s: s.knobs.ablation,
        (
            "The ablation study is informative: removing the <comp_a> or the <comp_b> clearly hurts performance, which supports the design.",
            "Each component is ablated separately, so it is clear where the gains come from.",
            "The ablation study isolating the <comp_a>, <comp_b>, and <comp_c> is convincing.",
        ),
        "the ablation study",
    ),
    Reason(
        "rigor",
        "strength",
        "rigor",
        lambda s: s.knobs.error_bars,
        (
            "Results are reported over <seeds> seeds with standard deviations, which is more careful than most papers in this area.",
            "All numbers are averaged over <seeds> random seeds and come with error bars, so the improvements appear statistically meaningful.",
        ),
        "the careful reporting over <seeds> seeds with standard deviations",
    ),
    Reason(
        "clear",
        "strength",
        "clarity",
        lambda s: s.knobs.clarity >= 3,
        (
            "The paper is well written and easy to follow; the notation is introduced before it is used.",
            "Clear presentation: the problem setup and the method are explained precisely, and the contributions are stated explicitly.",
        ),
        "the clear writing",
    ),
    Reason(
        "novel",
        "strength",
        "novelty",
        lambda s: s.knobs.novelty >= 3,
        (
            "The central idea of <mech> is novel as far as I know, and well motivated.",
            "<Mp> is an original take on <issue>; I have not seen <mech> used in this way before.",
        ),
        "the novelty of the main idea",
    ),
    Reason(
        "limitations",
        "strength",
        "clarity",
        lambda s: s.knobs.limitations,
        (
            "The authors are upfront about the limitations of their approach.",
            "I appreciate the explicit discussion of limitations.",
        ),
        "the honest discussion of limitations",
    ),
    Reason(
        "code",
        "strength",
        "rigor",
        lambda s: s.knobs.code,
        ("Code is released, which helps reproducibility.",),
        "the released code",
    ),
    Reason(
        "related",
        "strength",
        "novelty",
        lambda s: s.knobs.n_citations >= 30,
        (
            "The related work section is thorough (<nc> references) and positions the contribution well.",
        ),
        "the thorough discussion of related work",
    ),
    Reason(
        "analyses",
        "strength",
        "scope",
        lambda s: s.knobs.n_extra_tables >= 1,
        ("The additional analyses (<extra_desc>) are a welcome addition.",),
        "the additional analyses",
    ),
    Reason(
        "consistent",
        "strength",
        "scope",
        _all_wins,
        (
            "<Mp> outperforms all baselines on every dataset in the main table.",
            "The improvements over the baselines are consistent across the reported benchmarks.",
        ),
        "consistent improvements over the baselines",
    ),
    Reason(
        "one_dataset",
        "weakness",
        "scope",
        lambda s: s.knobs.n_datasets == 1,
        (
            "Only one dataset (<primary>) is used. It is unclear whether the findings generalise beyond this benchmark.",
            "The experimental evaluation is limited to a single dataset, <primary>; results on at least one more benchmark (e.g. <missing_ds>) are needed.",
        ),
        "the evaluation on a single dataset",
        ("How does <Mp> perform on <missing_ds>?",),
    ),
    Reason(
        "two_datasets",
        "weakness",
        "scope",
        lambda s: s.knobs.n_datasets == 2,
        (
            "The evaluation covers only two datasets (<ds_list>), which is thin for the generality claimed in the introduction.",
        ),
        "the small number of datasets",
        ("Could you add results on <missing_ds>?",),
    ),
    Reason(
        "few_baselines",
        "weakness",
        "scope",
        lambda s: s.knobs.n_baselines <= 2,
        (
            "Only <bl_count> (<bl_list>) compared. Stronger recent methods such as <missing_bl> are missing.",
            "The baselines are weak: the paper compares only against <bl_list> and omits <missing_bl>.",
        ),
        "the weak set of baselines",
        ("Could you compare against <missing_bl>?",),
    ),
    Reason(
        "no_ablation",
        "weakness",
        "rigor",
        lambda s: not s.knobs.ablation,
        (
            "There is no ablation study, so it is impossible to tell whether the gains come from the <comp_a>, the <comp_b>, or simply from more tuning.",
            "The method has several components (<comp_a>, <comp_b>, <comp_c>) but no ablation study isolates their contributions.",
        ),
        "the missing ablation study",
        (
            "What happens if the <comp_a> is removed?",
            "Which of the three components is responsible for most of the gain?",
        ),
    ),
    Reason(
        "single_run",
        "weakness",
        "rigor",
        lambda s: s.knobs.n_seeds == 1,
        (
            "All results come from a single run without error bars. Given that the margins over the baselines are small, multiple seeds and standard deviations are necessary.",
            "No variance is reported: the tables show single-run numbers, so it is unclear whether the improvements are significant.",
        ),
        "single-run results without error bars",
        ("Can you report the mean and standard deviation over at least three seeds?",),
    ),
    Reason(
        "no_error_bars",
        "weakness",
        "rigor",
        lambda s: s.knobs.n_seeds > 1 and not s.knobs.error_bars,
        (
            "The results are averaged over <seeds> seeds, but no standard deviations or confidence intervals are reported.",
        ),
        "the missing standard deviations",
        ("What are the standard deviations across the <seeds> seeds?",),
    ),
    Reason(
        "unclear",
        "weakness",
        "clarity",
        lambda s: s.knobs.clarity <= 2,
        (
            "The presentation needs work: notation such as $\\Psi_t$ is used without being defined, and the method section is hard to follow.",
            'The writing is unclear in places; several claims are vague ("works very well") and the method section uses undefined notation.',
        ),
        "the unclear presentation",
        (
            "Could you define $\\Psi_t$ and $\\tilde{\\mathcal{H}}$ in the method section precisely?",
        ),
    ),
    Reason(
        "incremental",
        "weakness",
        "novelty",
        lambda s: s.knobs.novelty <= 2,
        (
            "The novelty is limited: the method is essentially <b1> combined with the <comp_a>.",
            "The contribution is incremental. Combining the <comp_a> with existing techniques such as <b1> is a fairly natural step.",
        ),
        "the limited novelty",
        ("What is the key conceptual difference between <Mp> and <b1>?",),
    ),
    Reason(
        "no_limitations",
        "weakness",
        "clarity",
        lambda s: not s.knobs.limitations,
        (
            "Limitations and failure cases are not discussed.",
            "The paper does not discuss its limitations.",
        ),
        "the missing discussion of limitations",
        ("In which settings would you expect <Mp> to fail?",),
    ),
    Reason(
        "thin_related",
        "weakness",
        "novelty",
        lambda s: s.knobs.n_citations < 15,
        (
            "The related work is thin (only <nc> references); important prior work on <topic_b> is not discussed.",
        ),
        "the thin related work",
        ("How does the method relate to prior work on <topic_b>?",),
    ),
    Reason(
        "no_code",
        "weakness",
        "rigor",
        lambda s: not s.knobs.code,
        (
            "No code is provided, and some implementation details (e.g. the choice of the <hyper_desc>) are missing.",
        ),
        "the lack of code and implementation details",
        ("Will the code be released?",),
    ),
    Reason(
        "no_analysis",
        "weakness",
        "scope",
        lambda s: s.knobs.n_extra_tables == 0,
        (
            "There is no analysis of computational cost or of the sensitivity to hyperparameters such as the <hyper_desc>.",
        ),
        "the missing cost and sensitivity analysis",
        (
            "How sensitive is <Mp> to the <hyper_desc>?",
            "What is the wall-clock overhead compared with <b1>?",
        ),
    ),
    Reason(
        "mixed",
        "weakness",
        "scope",
        lambda s: not _all_wins(s),
        ("<Mp> does not outperform <lost_winner> on <lost_ds>, which weakens the main claim.",),
        "mixed results against the baselines",
        ("Why does <Mp> underperform <lost_winner> on <lost_ds>?",),
    ),
)
GENERIC_STRENGTHS = (
    "The paper addresses a relevant problem: <issue>.",
    "The method is simple and should be easy to implement.",
)
GENERIC_WEAKNESSES = (
    "Some minor typos and formatting issues (e.g. inconsistent capitalisation in the tables).",
    "Figure and table captions could be more informative.",
)
GENERIC_QUESTIONS = (
    "How sensitive is the method to the <hyper_desc>?",
    "What is the computational overhead compared with <b1>?",
    "Does the approach scale to larger models?",
)
