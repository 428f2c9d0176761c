"""A whole paper's LaTeX text: headings, sections in order, every reference cited."""

from __future__ import annotations

import random
from dataclasses import dataclass

from cycle.data.sample_corpus.citations import CiteBook
from cycle.data.sample_corpus.experiments_section import experiments_section
from cycle.data.sample_corpus.intro_sections import intro_section, related_section
from cycle.data.sample_corpus.method_section import method_section
from cycle.data.sample_corpus.section_context import text_context
from cycle.data.sample_corpus.spec import PaperSpec
from cycle.data.sample_corpus.summaries import abstract_text, conclusion_section


@dataclass
class PaperText:
    title: str
    abstract: str  # LaTeX
    parts: list[tuple[str, str]]  # (part name, LaTeX) in document order


HEADINGS = {
    "intro": ("Introduction",),
    "related": (
        "Related Work",
        "Related Work",
        "Background and Related Work",
        "Related Literature",
        "Prior Work",
    ),
    "method": ("Method", "Methodology", "Approach", "Proposed Method"),
    "experiments": (
        "Experiments",
        "Experiments",
        "Experimental Results",
        "Empirical Evaluation",
        "Evaluation",
    ),
    "conclusion": (
        "Conclusion",
        "Conclusion",
        "Conclusions",
        "Discussion and Conclusion",
        "Concluding Remarks",
    ),
}


def render_paper(rng: random.Random, spec: PaperSpec, anonymous: bool) -> PaperText:
    spec.headings = {part: rng.choice(options) for part, options in HEADINGS.items()}
    if rng.random() < 0.2:
        spec.headings["method"] = spec.method
    cb = CiteBook(spec.refs)
    ctx = text_context(rng, spec)
    abstract = abstract_text(rng, spec, ctx)
    intro = intro_section(rng, spec, cb, ctx)
    # the experiments cite every baseline and dataset; related work cites the remaining topic refs
    exp, ablation = experiments_section(rng, spec, cb, ctx, anonymous)
    related = related_section(rng, spec, cb, ctx)
    method = method_section(rng, spec, cb, ctx)
    conclusion, limitations = conclusion_section(rng, spec, ctx)
    parts = [("intro", intro), ("related", related), ("method", method), ("experiments", exp)]
    if ablation:
        parts.append(("ablation", ablation))
    if limitations:
        parts.append(("limitations", limitations))
    parts.append(("conclusion", conclusion))
    cited = set(cb.used)
    expected = {r.key for r in spec.refs}
    if cited != expected:
        raise AssertionError(f"{spec.pid}: cited {len(cited)} of {len(expected)} references")
    return PaperText(spec.title, abstract, parts)
