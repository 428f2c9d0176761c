"""Outline extractors: a paper's sections -> ``Outline`` (motivation, main idea, setup, results,
self-assessment scores), the seam the paper filled with Mistral-Large-2.

- ``heuristic``: rules over the LaTeX, for offline builds. Motivation = the introduction's
  opening paragraphs; main idea = the abstract plus the method's first paragraph; setup = one
  item per subsection (or section) of the experiment half; results = every ``tabular`` of the
  experiment half as ``{"table": rows}`` with its caption; scores = 5 plus one point per
  signal (see ``_scores``), clipped to 1..10.
- ``llm``: any object with ``generate(prompts, sampling)`` returning lists of completions with
  ``.text`` (the core generator interface); its JSON answer is parsed and validated, failures
  are reported per paper.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Protocol

from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec
from pylatexenc.latex2text import get_default_latex_context_db as get_default_text_context_db
from pylatexenc.latexwalker import LatexEnvironmentNode, LatexMacroNode

from cycle.data.latex_parser import arg_text, default_context_db, latex_walker, walk
from cycle.data.paper_conversation import Outline, split_halves
from cycle.data.records import Paper

OutlineResult = tuple[Outline | None, list[str]]
_RULES = re.compile(
    r"\\(?:hline|toprule|midrule|bottomrule|cline\{[^}]*\}|cmidrule(?:\([^)]*\))?\{[^}]*\})"
)
_DISCARDED = (
    "footnote",
    "label",
    "cite",
    "citep",
    "citet",
    "citealp",
    "citealt",
    "citeauthor",
    "citeyear",
    "nocite",
    "Citet",
    "Citep",
)


def _text_context():
    db = get_default_text_context_db()
    db.add_context_category(
        "cycle-discard", prepend=True, macros=[MacroTextSpec(m, discard=True) for m in _DISCARDED]
    )
    return db


_TO_TEXT = LatexNodes2Text(
    latex_context=_text_context(), math_mode="verbatim", strict_latex_spaces=True
)
# The parsing context latex_to_text would otherwise rebuild for every string it converts.
_PARSE_DB = default_context_db()
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?)])")


class OutlineExtractor(Protocol):
    def extract(self, papers: Sequence[Paper]) -> list[OutlineResult]: ...


def latex_to_text(latex: str) -> str:
    """Readable text: citations dropped, math kept verbatim, whitespace collapsed."""
    try:
        text = _TO_TEXT.latex_to_text(latex, latex_context=_PARSE_DB)
    except Exception:  # pylatexenc is tolerant, but keep a readable fallback for odd input
        text = re.sub(r"\\[a-zA-Z]+\*?|[{}]", " ", latex)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))


_FLOAT_MARK = re.compile(r"\\(begin|end)\{(figure|table|algorithm)\*?\}")


def strip_floats(latex: str) -> str:
    """``latex`` without its figure/table/algorithm environments: each ``\\begin`` runs to the
    next ``\\end`` of its name (starred or not); one without an ``\\end`` is kept. One pass over
    the markers (a lazy ``.*?`` regex rescans the rest of the text for every unclosed
    ``\\begin``: quadratic, minutes on a few hundred KB of them)."""
    marks = [(m.group(1), m.group(2), m.start(), m.end()) for m in _FLOAT_MARK.finditer(latex)]
    next_end: dict[str, int | None] = {}
    closing: list[int | None] = [None] * len(marks)
    for i in range(
        len(marks) - 1, -1, -1
    ):  # for each marker, the index of the next \end of its name
        kind, name, _, _ = marks[i]
        closing[i] = next_end.get(name)
        if kind == "end":
            next_end[name] = i
    kept, cursor = [], 0
    for i, (kind, _, start, _) in enumerate(marks):
        if kind == "begin" and start >= cursor and closing[i] is not None:
            kept.append(latex[cursor:start])
            cursor = marks[closing[i]][3]
    kept.append(latex[cursor:])
    return "".join(kept)


def _paragraphs(latex: str, limit: int) -> list[str]:
    """The first ``limit`` non-empty paragraphs before any subsection, floats removed, as text."""
    body = re.split(r"\\(?:sub)*section\*?\{", latex)[0]
    body = strip_floats(body)
    found: list[str] = []
    for para in re.split(r"\n\s*\n", body):
        if len(found) == limit:
            break
        if text := latex_to_text(para):
            found.append(text)
    return found


def _find(sections: Sequence[tuple[str, str]], pattern: str) -> str:
    return next((body for head, body in sections if re.search(pattern, head, re.IGNORECASE)), "")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(". ", 1)[0]
    return cut + "." if cut else text[:limit]


def _subsections(latex: str) -> list[tuple[str, str]]:
    parts = re.split(r"\\subsection\*?\{((?:[^{}]|\{[^{}]*\})*)\}", latex)
    return [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]


def tables(latex: str) -> list[dict[str, Any]]:
    """Every ``tabular`` in the LaTeX as ``{"name", "result": {"table", "description"}}``."""
    if "table" not in latex:  # no table environment: skip the parse
        return []
    nodes, _, _ = latex_walker(latex).get_latex_nodes()
    found = []
    for env in walk(nodes):
        if not (
            isinstance(env, LatexEnvironmentNode) and env.environmentname in ("table", "table*")
        ):
            continue
        caption = next(
            (
                arg_text(latex, n)
                for n in walk(env.nodelist)
                if isinstance(n, LatexMacroNode) and n.macroname == "caption"
            ),
            None,
        )
        for tab in walk(env.nodelist):
            if isinstance(tab, LatexEnvironmentNode) and tab.environmentname in (
                "tabular",
                "tabular*",
                "tabularx",
            ):
                rows = _table_rows(latex[tab.pos : tab.pos + tab.len])
                if rows:
                    name = latex_to_text(caption) if caption else f"Table {len(found) + 1}"
                    found.append({"name": name, "result": {"table": rows, "description": name}})
    return found


def _table_rows(tabular: str) -> list[list[str]]:
    inner = re.sub(r"^\\begin\{tabular[*x]?\}(\{[^}]*\})?(\{(?:[^{}]|\{[^{}]*\})*\})", "", tabular)
    inner = re.sub(r"\\end\{tabular[*x]?\}$", "", inner)
    rows = []
    for line in re.split(r"\\\\", _RULES.sub("", inner)):
        cells = [latex_to_text(c) for c in re.split(r"(?<!\\)&", line)]
        if any(cells):
            rows.append(cells)
    return rows


def _scores(
    paper: Paper, setup: list[dict[str, Any]], results: list[dict[str, Any]]
) -> tuple[int, int, int]:
    """Interestingness: +1 for >= 2 result tables, +1 for an ablation, +1 for >= 20 references.
    Feasibility: +1 for >= 2 setup items, +1 for stated hyperparameters/implementation details.
    Novelty: +1 for a related-work section, +1 for "novel"/"first" claims in the abstract."""
    text = "\n".join(f"{h}\n{body}" for h, body in paper.sections).lower()
    clip = lambda x: max(1, min(10, x))  # noqa: E731
    interesting = 5 + (len(results) >= 2) + ("ablation" in text) + (len(paper.references) >= 20)
    feasible = (
        5
        + (len(setup) >= 2)
        + bool(re.search(r"hyper-?parameter|learning rate|implementation detail", text))
    )
    novel = (
        5
        + any(re.search(r"related|background|prior work", h, re.I) for h, _ in paper.sections)
        + bool(re.search(r"\bnovel\b|\bfirst\b", paper.abstract, re.I))
    )
    return clip(interesting), clip(feasible), clip(novel)


class HeuristicOutline:
    """Rule-based outline (offline); see the module docstring for the rules."""

    def __init__(self, max_chars: int = 1200) -> None:
        self.max_chars = max_chars

    def extract_one(self, paper: Paper) -> OutlineResult:
        first, second = split_halves(paper.sections)
        if not second:
            return None, ["no experiment half to take a setup and results from"]
        intro = _find(first, r"intro") or (first[0][1] if first else "")
        motivation = _truncate(" ".join(_paragraphs(intro, 2)), self.max_chars)
        method = _find(first, r"method|approach|model|framework|propos") or (
            first[-1][1] if first else ""
        )
        main_idea = _truncate(
            " ".join([latex_to_text(paper.abstract), *_paragraphs(method, 1)]).strip(),
            self.max_chars,
        )
        setup = []
        for head, body in second:
            items = _subsections(body) or [(head, body)]
            setup += [
                {
                    "name": latex_to_text(h),
                    "description": _truncate(" ".join(_paragraphs(b, 1)), self.max_chars),
                }
                for h, b in items
                if not re.search(r"conclusion|discussion|limitation", h, re.I)
            ]
        results = [t for _, body in second for t in tables(body)]
        problems = [] if results else ["no result tables found"]
        if not motivation:
            problems.append("no introduction text for the motivation")
        interesting, feasible, novel = _scores(paper, setup, results)
        outline = Outline(motivation, main_idea, interesting, feasible, novel, setup, results)
        return outline, problems

    def extract(self, papers: Sequence[Paper]) -> list[OutlineResult]:
        return [self.extract_one(p) for p in papers]


class DeadlineOutline:
    """A heuristic extractor run paper by paper in the parse worker, under the same deadline
    as the parse (``data.limits.parse_timeout_s``): a paper whose outline misses it fails alone."""

    def __init__(self, inner: HeuristicOutline, worker: Any) -> None:
        self.inner = inner
        self.worker = worker

    def extract(self, papers: Sequence[Paper]) -> list[OutlineResult]:
        results: list[OutlineResult] = []
        for paper in papers:
            try:
                results.append(self.worker.call(self.inner.extract_one, paper))
            except RuntimeError as err:  # RecordTimeout, or the extractor's own error
                results.append((None, [f"outline extraction failed: {err}"]))
        return results


DEFAULT_LLM_PROMPT = """Read the research paper below and summarize it as JSON with exactly these keys:
"motivation" (the gap in prior work that motivates it, 2-4 sentences),
"main_idea" (the proposed idea, 2-4 sentences),
"interestingness", "feasibility", "novelty" (integers from 1 to 10, your assessment),
"experimental_setup" (a list of {"name": ..., "description": ...}, one per experiment),
"experimental_results" (a list of {"name": ..., "result": {"table": [[header, ...], [cell, ...]], "description": ...}}, copying the numbers of the paper's result tables).
Answer with the JSON object only.

Paper:
{paper}"""


def parse_outline_json(text: str) -> OutlineResult:
    """Parse and validate an LLM's outline answer (a JSON object, fenced or bare)."""
    fenced = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text[text.find("{") : text.rfind("}") + 1]
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as err:
        return None, [f"outline answer is not JSON: {err}"]
    if not isinstance(data, dict):
        return None, ["outline answer is not a JSON object"]
    problems, scores = [], {}
    for key in ("interestingness", "feasibility", "novelty"):
        try:
            scores[key] = max(1, min(10, round(float(data.get(key)))))
        except (TypeError, ValueError):
            problems.append(f"{key}: not a number ({data.get(key)!r}), using 5")
            scores[key] = 5
    lists = {}
    for key in ("experimental_setup", "experimental_results"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(
            isinstance(v, dict) and "name" in v for v in value
        ):
            return None, [*problems, f"{key}: expected a list of objects with a name"]
        lists[key] = value
    text_fields = {k: str(data.get(k) or "").strip() for k in ("motivation", "main_idea")}
    if not all(text_fields.values()):
        return None, [*problems, "motivation or main_idea missing"]
    return Outline(**text_fields, **scores, **lists), problems


class LLMOutline:
    """Outline written by a language model (any core ``Generator``-like object)."""

    def __init__(
        self,
        generator: Any,
        sampling: Any,
        prompt: str | None = None,
        max_paper_chars: int = 60000,
        batch_size: int = 8,
    ) -> None:
        self.generator = generator
        self.sampling = sampling
        self.prompt = prompt or DEFAULT_LLM_PROMPT
        self.max_paper_chars = max_paper_chars
        self.batch_size = batch_size

    def extract(self, papers: Sequence[Paper]) -> list[OutlineResult]:
        results: list[OutlineResult] = []
        for start in range(0, len(papers), self.batch_size):
            batch = papers[start : start + self.batch_size]
            prompts = [
                [
                    {
                        "role": "user",
                        "content": self.prompt.replace("{paper}", p.text[: self.max_paper_chars]),
                    }
                ]
                for p in batch
            ]
            outputs = self.generator.generate(prompts, self.sampling)
            for completions in outputs:
                if not completions:
                    results.append((None, ["the generator returned no completion"]))
                else:
                    results.append(parse_outline_json(completions[0].text))
        return results


def build_outline_extractor(
    cfg: Any, generator: Any = None, sampling: Any = None, worker: Any = None
) -> OutlineExtractor:
    """``cfg.method``: ``heuristic`` (in ``worker``, a ``DeadlineWorker``, when given) or ``llm``
    (which needs a generator and sampling config; its length is bounded by the sampling)."""
    if cfg.method == "heuristic":
        return DeadlineOutline(HeuristicOutline(), worker) if worker else HeuristicOutline()
    if cfg.method == "llm":
        if generator is None:
            raise ValueError("outline.method=llm needs a generator (model/backend config)")
        return LLMOutline(generator, sampling, cfg.prompt, cfg.max_paper_chars, cfg.batch_size)
    raise ValueError(f"unknown outline method {cfg.method!r} (heuristic | llm)")
