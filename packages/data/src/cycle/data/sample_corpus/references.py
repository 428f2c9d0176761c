"""References of a paper: titles, authors, venues, abstracts, and the .bib file."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from cycle.data.sample_corpus.areas import Area, Dataset
from cycle.data.sample_corpus.people import Author, draw_author
from cycle.data.sample_corpus.text import SMALL_WORDS, cap, fill, pick, title_case

# BibTeX @string macro -> full venue name
CONFERENCES = {
    "neurips": "Advances in Neural Information Processing Systems",
    "icml": "International Conference on Machine Learning",
    "iclr": "International Conference on Learning Representations",
    "cvpr": "IEEE/CVF Conference on Computer Vision and Pattern Recognition",
    "aaai": "AAAI Conference on Artificial Intelligence",
    "acl": "Annual Meeting of the Association for Computational Linguistics",
}
JOURNALS = (
    "Journal of Machine Learning Research",
    "Transactions on Machine Learning Research",
    "Machine Learning",
)
ADJECTIVES = (
    "Simple",
    "Scalable",
    "Efficient",
    "Robust",
    "Principled",
    "Stable",
    "Reliable",
    "Fast",
    "Lightweight",
    "Adaptive",
)
CLAIMS = (
    "consistent gains over prior work",
    "competitive accuracy at a fraction of the computational cost",
    "that simple baselines are surprisingly strong when tuned carefully",
    "improved stability across a wide range of hyperparameters",
    "state-of-the-art results on several standard benchmarks",
    "that the proposed approach scales favourably with model size",
)
REF_TITLES = (
    "<Adj> <Topic> at Scale",
    "A Study of <Topic>",
    "Understanding <Topic> in <TaskTitle>",
    "<Topic> Revisited",
    "Improving <TaskTitle> with <Noun>",
    "On the Limits of <Topic>",
    "<Topic>: Theory and Practice",
    "Beyond <Topic>: <Adj> <Noun>",
    "Towards <Adj> <Topic>",
    "A Unified View of <Topic> and <Topic2>",
    "What Matters in <Topic>? An Empirical Study",
    "<Noun> for <TaskTitle>",
)
REF_ABSTRACTS = (
    "We study <topic> in the context of <task>, with an approach based on <mech>. Experiments show <claim>.",
    "<Topic_cap> is a key ingredient of methods for <task>. We propose <mech> and observe <claim>.",
    "This paper revisits <topic>. We show that <mech> addresses <issue>, and report <claim>.",
    "Despite progress on <task>, <issue> remains a challenge. We introduce an approach relying on <mech>. Our experiments demonstrate <claim>.",
)


@dataclass
class Ref:
    key: str
    kind: str  # "baseline", "dataset" or "general"
    title: str
    authors: list[Author]
    year: int
    venue_kind: str  # "conf", "journal" or "arxiv"
    venue: str  # @string macro name for "conf", journal name, or arXiv number
    abstract: str | None
    target: str = ""  # the baseline or dataset it introduces
    topic: str = ""


def _ref_key(authors: list[Author], year: int, title: str, taken: set[str]) -> str:
    last = re.sub(
        r"[^a-z]", "", authors[0].last.lower().translate(str.maketrans("üóèářéçäø", "uoearecao"))
    )
    word = next(
        (w for w in re.findall(r"[a-z]+", title.lower()) if w not in SMALL_WORDS and len(w) > 3),
        "paper",
    )
    key = f"{last}{year}{word}"
    suffix = ord("a")
    base = key
    while key in taken:
        key = f"{base}{chr(suffix)}"
        suffix += 1
    taken.add(key)
    return key


def make_refs(
    rng: random.Random,
    area: Area,
    baselines: list[str],
    datasets: list[Dataset],
    n: int,
    max_year: int,
) -> list[Ref]:
    """``n`` references (none newer than ``max_year``): one per baseline and dataset while the budget lasts, the rest on topics."""
    n_general = max(2, n - len(baselines) - len(datasets))
    budget = n - n_general
    targets = [("baseline", b) for b in baselines] + [("dataset", d.name) for d in datasets]
    targets = targets[:budget]
    topics = list(rng.sample(area.topics, k=rng.randint(2, min(4, len(area.topics)))))
    targets += [("general", topics[i % len(topics)]) for i in range(n_general)]
    refs: list[Ref] = []
    keys: set[str] = set()
    titles: set[str] = set()
    for kind, target in targets:
        ctx = {
            "Adj": rng.choice(ADJECTIVES),
            "Noun": rng.choice(area.method_nouns),
            "TaskTitle": rng.choice(area.task_titles),
            "Topic": title_case(target),
            "Topic2": title_case(rng.choice(area.topics)),
        }
        for _ in range(20):
            if kind == "baseline":
                title = fill(
                    rng.choice(
                        (
                            "<B>: <Adj> <Noun> for <TaskTitle>",
                            "<B>: Rethinking <TaskTitle>",
                            "<B>: <Noun> Made <Adj>",
                        )
                    ),
                    {**ctx, "B": target},
                )
            elif kind == "dataset":
                title = fill(
                    rng.choice(
                        (
                            "<D>: A Benchmark for <TaskTitle>",
                            "The <D> Benchmark",
                            "Introducing <D>: Data and Baselines for <TaskTitle>",
                        )
                    ),
                    {**ctx, "D": target},
                )
            else:
                title = fill(rng.choice(REF_TITLES), ctx)
            if title not in titles:
                break
            ctx["Adj"], ctx["Noun"] = rng.choice(ADJECTIVES), rng.choice(area.method_nouns)
        titles.add(title)
        authors = [draw_author(rng) for _ in range(rng.randint(1, 4))]
        year = rng.randint(2014, max_year)
        venue_kind = rng.choices(("conf", "journal", "arxiv"), weights=(6, 2, 2))[0]
        if venue_kind == "conf":
            venue = rng.choice(tuple(CONFERENCES))
        elif venue_kind == "journal":
            venue = rng.choice(JOURNALS)
        else:
            venue = f"{year % 100:02d}{rng.randint(1, 12):02d}.{rng.randint(1000, 19999):05d}"
        abstract: str | None = None
        if rng.random() < 0.75:
            actx = {
                "topic": target if kind == "general" else rng.choice(area.topics),
                "Topic_cap": cap(target if kind == "general" else rng.choice(area.topics)),
                "task": area.task,
                "mech": rng.choice(area.mechanisms),
                "issue": area.issue,
                "claim": rng.choice(CLAIMS),
            }
            if kind == "dataset":
                abstract = fill(
                    "We introduce <D>, a benchmark for <task> designed to expose <issue>. Evaluating a range of baselines, we find <claim>.",
                    {**actx, "D": target},
                )
            elif kind == "baseline":
                abstract = fill(
                    "We present <B>, an approach to <task> that relies on <mech>. Experiments with <B> show <claim>.",
                    {**actx, "B": target},
                )
            else:
                abstract = pick(rng, REF_ABSTRACTS, actx)
        refs.append(
            Ref(
                key=_ref_key(authors, year, title, keys),
                kind=kind,
                title=title,
                authors=authors,
                year=year,
                venue_kind=venue_kind,
                venue=venue,
                abstract=abstract,
                target=target if kind != "general" else "",
                topic=target if kind == "general" else "",
            )
        )
    return refs


def render_bib(refs: list[Ref], use_strings: bool, bad_entry: bool = False) -> str:
    """A .bib file; ``use_strings`` defines ``@string`` venue macros and uses them unquoted."""
    lines: list[str] = []
    if use_strings:
        used = sorted({r.venue for r in refs if r.venue_kind == "conf"})
        lines += [f'@string{{{m} = "{CONFERENCES[m]}"}}' for m in used]
        lines.append("")
    for r in refs:
        fields: list[tuple[str, str]] = [
            ("title", "{" + r.title + "}"),
            ("author", "{" + " and ".join(a.bib for a in r.authors) + "}"),
        ]
        if r.venue_kind == "conf":
            etype = "inproceedings"
            fields.append(
                ("booktitle", r.venue if use_strings else "{" + CONFERENCES[r.venue] + "}")
            )
        elif r.venue_kind == "journal":
            etype = "article"
            fields.append(("journal", "{" + r.venue + "}"))
        else:
            etype = "article"
            fields.append(("journal", "{arXiv preprint arXiv:" + r.venue + "}"))
        fields.append(("year", "{" + str(r.year) + "}"))
        if r.abstract:
            fields.append(("abstract", "{" + r.abstract + "}"))
        lines.append(f"@{etype}{{{r.key},")
        lines += [f"  {name} = {value}," for name, value in fields]
        lines.append("}")
        lines.append("")
    if bad_entry:
        # Deliberately malformed (the title's brace is never closed), placed last so that the
        # entries above still parse; the parser must report it rather than crash.
        lines += [
            "@inproceedings{broken2021entry,",
            "  title = {A Deliberately Malformed Entry with {Unbalanced Braces,",
            "  author = {Doe, Jane and Roe, Richard},",
            "  booktitle = {Proceedings of a Workshop},",
            "  year = {2021},",
            "",
        ]
    return "\n".join(lines)
