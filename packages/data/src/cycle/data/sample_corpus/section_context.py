"""What every section template of a paper shares: the values of its ``<placeholders>`` and the
filler sentences of an unclear paper."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from cycle.data.sample_corpus.knobs import Knobs
from cycle.data.sample_corpus.spec import PaperSpec
from cycle.data.sample_corpus.text import NUM_WORDS, cap, join_and

FILLERS = (
    "It is well known that this is a very important problem.",
    "As can be seen, this works very well in practice.",
    "This is clearly significant for many applications.",
    "Note that the above is quite general and can be extended in many ways.",
    "We believe this is a very promising direction.",
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


def filler(rng: random.Random, k: Knobs, p: float = 0.6) -> str:
    return (
        " " + rng.choice(FILLERS)
        if k.clarity == 1 or (k.clarity == 2 and rng.random() < p / 2)
        else ""
    )
