"""A paper's spec (area, method, datasets, baselines, references) and its result numbers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cycle.data.sample_corpus.areas import AREAS, Area, Dataset
from cycle.data.sample_corpus.knobs import Knobs
from cycle.data.sample_corpus.references import ADJECTIVES, Ref, make_refs
from cycle.data.sample_corpus.text import fill


@dataclass
class PaperSpec:
    """Everything the LaTeX writer and the review writer need to agree on."""

    pid: str
    area: Area
    knobs: Knobs
    method: str  # plain method name
    method_tex: str  # how the body refers to it (plain, \textsc{..} or the \ours macro)
    macro: bool  # the preamble defines \ours
    title: str
    mechanism: str
    components: list[str]  # three; the ablation removes them one at a time
    datasets: list[Dataset]
    baselines: list[str]
    refs: list[Ref]
    hyper: tuple[str, str, tuple[str, ...]]
    main: dict[str, dict[str, tuple[float, float]]] = field(
        default_factory=dict
    )  # method -> dataset -> (mean, std)
    ablation_rows: list[tuple[str, list[float]]] = field(default_factory=list)
    headings: dict[str, str] = field(default_factory=dict)

    @property
    def primary(self) -> Dataset:
        return self.datasets[0]

    def wins(self) -> list[bool]:
        return [self.main[self.method][d.name][0] == self.best_value(d) for d in self.datasets]

    def best_value(self, d: Dataset) -> float:
        values = [self.main[m][d.name][0] for m in self.main]
        return max(values) if d.higher else min(values)

    def best_baseline(self, d: Dataset) -> str:
        pairs = [(self.main[b][d.name][0], b) for b in self.baselines]
        return (max(pairs) if d.higher else min(pairs))[1]


def unique_method_name(rng: random.Random, area: Area, taken: set[str]) -> str:
    for _ in range(200):
        name = rng.choice(area.stems) + rng.choice(area.suffixes)
        if rng.random() < 0.2:
            name += rng.choice(("-2", "++", "X", "-L"))
        if name not in taken and name not in area.baselines:
            taken.add(name)
            return name
    raise RuntimeError(f"ran out of method names for {area.key}")


TITLES = (
    "<M>: <Adj> <Noun> for <TaskTitle>",
    "<Noun> for <TaskTitle>",
    "Towards <Adj> <TaskTitle> via <Noun>",
    "<M>: Scaling <TaskTitle> with <Noun>",
    "Rethinking <TaskTitle>: <Adj> <Noun>",
    "<Adj> <TaskTitle> through <Noun>",
    "<M>: <Noun> Meets <TaskTitle>",
    "On <Noun> for <TaskTitle>",
)


def build_spec(
    rng: random.Random, pid: str, knobs: Knobs, taken_names: set[str], max_year: int
) -> PaperSpec:
    area = rng.choice(AREAS)
    method = unique_method_name(rng, area, taken_names)
    macro = rng.random() < 0.25
    method_tex = (
        r"\ours{}" if macro else (rf"\textsc{{{method}}}" if rng.random() < 0.4 else method)
    )
    title = fill(
        rng.choice(TITLES),
        {
            "M": method,
            "Adj": rng.choice(ADJECTIVES),
            "Noun": rng.choice(area.method_nouns),
            "TaskTitle": rng.choice(area.task_titles),
        },
    )
    datasets = rng.sample(area.datasets, k=knobs.n_datasets)
    baselines = rng.sample(area.baselines, k=knobs.n_baselines)
    spec = PaperSpec(
        pid=pid,
        area=area,
        knobs=knobs,
        method=method,
        method_tex=method_tex,
        macro=macro,
        title=title,
        mechanism=rng.choice(area.mechanisms),
        components=rng.sample(area.components, k=3),
        datasets=datasets,
        baselines=baselines,
        refs=make_refs(rng, area, baselines, datasets, knobs.n_citations, max_year),
        hyper=rng.choice(area.hyper),
    )
    make_results(rng, spec)
    return spec


def _value(d: Dataset, goodness: float) -> float:
    width = d.hi - d.lo
    return d.lo + goodness * width if d.higher else d.hi - goodness * width


def make_results(rng: random.Random, spec: PaperSpec) -> None:
    """Main-table numbers; the method wins more often (and by more) the more novel the paper."""
    k = spec.knobs
    p_win = min(0.97, 0.45 + 0.12 * k.novelty + 0.05 * k.ablation)
    goodness: dict[str, dict[str, float]] = {b: {} for b in spec.baselines}
    goodness[spec.method] = {}
    for d in spec.datasets:
        for b in spec.baselines:
            goodness[b][d.name] = rng.uniform(0.15, 0.7)
        best = max(goodness[b][d.name] for b in spec.baselines)
        if rng.random() < p_win:
            g = best + rng.uniform(0.03, 0.05 + 0.03 * k.novelty)
        else:
            g = best - rng.uniform(0.01, 0.05)
        goodness[spec.method][d.name] = min(0.98, max(0.02, g))
    for m, per in goodness.items():
        spec.main[m] = {}
        for d in spec.datasets:
            width = d.hi - d.lo
            mean = round(_value(d, per[d.name]), d.dec)
            std = round(max(width * rng.uniform(0.004, 0.02), 10**-d.dec), d.dec)
            spec.main[m][d.name] = (mean, std)
    # make ties impossible to read as a win for the baseline
    for d in spec.datasets:
        ours = spec.main[spec.method][d.name][0]
        for b in spec.baselines:
            if spec.main[b][d.name][0] == ours:
                step = 10**-d.dec
                mean, std = spec.main[b][d.name]
                spec.main[b][d.name] = (round(mean - step if d.higher else mean + step, d.dec), std)
    if k.ablation:
        cols = spec.datasets[:2]
        full = [spec.main[spec.method][d.name][0] for d in cols]
        spec.ablation_rows.append((f"{spec.method} (full)", full))
        for comp in spec.components:
            row = []
            for d, v in zip(cols, full, strict=True):
                drop = (d.hi - d.lo) * rng.uniform(0.01, 0.07)
                row.append(round(v - drop if d.higher else v + drop, d.dec))
            spec.ablation_rows.append((f"w/o {comp}", row))


def fmt(d: Dataset, v: float) -> str:
    return f"{v:.{d.dec}f}"


def rel_change(d: Dataset, ours: float, other: float) -> float:
    return abs(ours - other) / abs(other) * 100.0
