"""The CycleResearcher paper protocol (docs/formats.md §3): prompt, parsing, ``GeneratedPaper``.

Prompts come from the data package's renderer (``cycle.data.paper_conversation``), so a prompt
at generation time is the user turn the policy was trained on. The parser reads both assistant
turns (and the results turn) back into a ``GeneratedPaper``; it never raises on model output:
whatever is missing or malformed is listed in ``problems``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cycle.data.paper_conversation import SYSTEM_PROMPT, fenced_block, render_bibliography
from cycle.data.records import Paper, Reference
from cycle.researcher.latex_json import loads_latex_json

Message = dict[str, str]
RESULTS_HEADING = "## Experimental_results"
SCORE_FIELDS = ("interestingness", "feasibility", "novelty")


def build_prompt(
    references: Sequence[Reference], topic: str | None = None, max_references: int | None = None
) -> list[Message]:
    """System + user messages: the bibliography (``Abstract:`` lines), optional topic line.

    ``max_references`` keeps the first references only (short prompts for small contexts).
    """
    refs = list(references)[:max_references] if max_references is not None else list(references)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": render_bibliography(refs, topic)},
    ]


def results_message(results: Any) -> str:
    """The results user turn (message 4), written exactly as the data renderer writes it."""
    body = json.dumps(results, indent=2, ensure_ascii=False)
    return f"{RESULTS_HEADING}\n\n```json\n{body}\n```"


@dataclass
class GeneratedPaper:
    """A paper written by the policy, parsed from its turns; ``problems`` lists what is missing."""

    title: str = ""
    abstract: str = ""
    sections: list[tuple[str, str]] = field(default_factory=list)
    motivation: str = ""
    main_idea: str = ""
    interestingness: int | None = None
    feasibility: int | None = None
    novelty: int | None = None
    experimental_setup: Any = None  # decoded JSON (a list of {name, description}) or None
    experimental_results: Any = None  # decoded JSON (a list of {name, result}) or None
    references: list[Reference] = field(default_factory=list)
    simulated: bool = True  # results written by the model, not by running experiments
    experiment_error: str | None = None  # why the experiment runner gave no results
    problems: list[str] = field(default_factory=list)
    outline_attempts: int = 1  # first turns sampled (Researcher outline_attempts)
    # The raw turns, kept so a paper can be re-parsed or turned into a preference pair.
    outline_text: str = ""
    results_text: str = ""
    second_text: str = ""

    @property
    def complete(self) -> bool:
        """Title, abstract and at least two sections (the generation stage's success criterion)."""
        return bool(self.title and self.abstract and len(self.sections) >= 2)

    @property
    def latex_body(self) -> str:
        """Title, abstract and sections as LaTeX (what a reviewer reads; no preamble)."""
        return self.to_paper().text

    def to_paper(self, paper_id: str = "") -> Paper:
        return Paper(
            paper_id=paper_id,
            title=self.title,
            abstract=self.abstract,
            sections=list(self.sections),
            references=list(self.references),
        )

    def messages(self, prompt: Sequence[Message]) -> list[Message]:
        """The conversation as generated (prompt + the turns that exist)."""
        out = [*prompt, {"role": "assistant", "content": self.outline_text}]
        if self.results_text:
            out.append({"role": "user", "content": self.results_text})
        if self.second_text:
            out.append({"role": "assistant", "content": self.second_text})
        return out

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["sections"] = [[h, b] for h, b in self.sections]
        row["references"] = [r.to_row() for r in self.references]
        row["complete"] = self.complete
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> GeneratedPaper:
        names = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in row.items() if k in names}
        data["sections"] = [(h, b) for h, b in row.get("sections") or []]
        data["references"] = [Reference.from_row(r) for r in row.get("references") or []]
        return cls(**data)


# ---------------------------------------------------------------------------------------------
# Parsing


def _lf(text: str) -> str:
    """Line endings made ``\\n`` before parsing: every pattern below anchors on ``\\n`` / ``$``,
    and a Windows (``\\r\\n``) or old-Mac (``\\r``) turn would lose its headings and scores."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _heading_block(text: str, heading: str) -> str | None:
    """Text after ``## <heading>`` up to the next ``## `` heading or code fence."""
    m = re.search(rf"^##[ \t]*{heading}[ \t]*(?::[ \t]*)?$", text, re.IGNORECASE | re.MULTILINE)
    if m is None:
        return None
    rest = text[m.end() :]
    stop = re.search(r"^(##\s|```)", rest, re.MULTILINE)
    return (rest[: stop.start()] if stop else rest).strip()


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the brace group opening at ``text[start] == '{'`` and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    return None


_SECTION = re.compile(r"\\section\*?\s*(?:\[[^\]]*\])?\s*(?=\{)")


def split_sections(latex: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``\\section{heading}`` blocks of ``latex`` as (heading, body) pairs, bodies stripped."""
    problems: list[str] = []
    heads = []
    for m in _SECTION.finditer(latex):
        group = _braced(latex, m.end())
        if group is None:
            problems.append(f"unbalanced braces in a \\section heading at offset {m.start()}")
            continue
        heads.append((m.start(), group[1], group[0].strip()))
    sections = []
    for i, (_, body_start, heading) in enumerate(heads):
        end = heads[i + 1][0] if i + 1 < len(heads) else len(latex)
        sections.append((heading, latex[body_start:end].strip()))
    return sections, problems


def _title_abstract(latex: str) -> tuple[str, str, list[str]]:
    problems = []
    title = ""
    m = re.search(r"\\title\s*(?=\{)", latex)
    group = _braced(latex, m.end()) if m else None
    if group is not None:
        title = group[0].strip()
    else:
        problems.append("no \\title")
    abstract = ""
    m = re.search(
        r"\\begin\{abstract\}(.*?)(?:\\end\{abstract\}|(?=\\section)|\Z)", latex, re.DOTALL
    )
    if m is not None:
        abstract = m.group(1).strip()
        if "\\end{abstract}" not in latex:
            problems.append("abstract not closed with \\end{abstract}")
    if not abstract:
        problems.append("no abstract")
    return title, abstract, problems


def _score(text: str, name: str) -> tuple[int | None, str | None]:
    block = _heading_block(text, name)
    if block is None:
        return None, f"no ## {name.title()} score"
    m = re.search(r"-?\d+(?:\.\d+)?", block)
    if m is None:
        return None, f"{name}: not a number ({block[:40]!r})"
    value = round(float(m.group()))
    if not 1 <= value <= 10:
        return max(1, min(10, value)), f"{name}: {value} outside 1..10, clipped"
    return value, None


def _json_after(text: str, heading: str) -> tuple[Any, str | None]:
    """The JSON block after ``heading`` (or the first JSON block when the heading is missing)."""
    m = re.search(rf"^{heading}[ \t]*(?::[ \t]*)?$", text, re.IGNORECASE | re.MULTILINE)
    body, closed = fenced_block(text[m.end() :] if m else text, "json")
    if body is None:
        return None, f"no JSON block after {heading.lstrip('# ')}"
    value, err = loads_latex_json(body)
    if err is not None:
        return None, f"{heading.lstrip('# ')}: {err}" + ("" if closed else " (block not closed)")
    return value, None


def parse_outline_turn(text: str) -> GeneratedPaper:
    """The first assistant turn: outline, self-assessment, first LaTeX half, setup JSON."""
    paper = GeneratedPaper(outline_text=text)  # the turn as generated; parsed with \n endings
    text = _lf(text)
    for name, attr in (("Motivation", "motivation"), ("Main Idea", "main_idea")):
        block = _heading_block(text, name)
        if block:
            setattr(paper, attr, block)
        else:
            paper.problems.append(f"no ## {name}")
    for name in SCORE_FIELDS:
        value, problem = _score(text, name)
        setattr(paper, name, value)
        if problem:
            paper.problems.append(problem)
    latex, closed = fenced_block(text, "latex")
    if latex is None:  # no fence: take the LaTeX from the first \title or \section on
        m = re.search(r"\\title|\\begin\{abstract\}|\\section", text)
        latex = text[m.start() :] if m else ""
        paper.problems.append("no ```latex block in the first turn")
    elif not closed:
        paper.problems.append("first ```latex block not closed")
    if latex:
        latex = re.split(r"^##\s*Experimental Setup", latex, flags=re.MULTILINE | re.IGNORECASE)[0]
    paper.title, paper.abstract, problems = _title_abstract(latex)
    paper.problems += problems
    paper.sections, problems = split_sections(latex)
    paper.problems += problems
    if not paper.sections:
        paper.problems.append("no \\section in the first turn")
    paper.experimental_setup, problem = _json_after(text, "## Experimental Setup")
    if problem:
        paper.problems.append(problem)
    return paper


def parse_results_turn(text: str) -> tuple[Any, str | None]:
    """Decoded results of message 4, or ``(None, reason)``."""
    return _json_after(_lf(text), RESULTS_HEADING)


def parse_second_turn(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Sections of the second assistant turn (experiments to conclusion)."""
    text = _lf(text)
    latex, closed = fenced_block(text, "latex")
    problems = []
    if latex is None:
        latex = text
        problems.append("no ```latex block in the second turn")
    elif not closed:
        problems.append("second ```latex block not closed")
    sections, found = split_sections(latex)
    problems += found
    if not sections:
        problems.append("no \\section in the second turn")
    return sections, problems


def parse_paper(
    outline_text: str,
    results_text: str = "",
    second_text: str = "",
    references: Sequence[Reference] = (),
    simulated: bool = True,
) -> GeneratedPaper:
    """All turns to one ``GeneratedPaper``: the first LaTeX half followed by the second."""
    paper = parse_outline_turn(outline_text)
    paper.references = list(references)
    paper.simulated = simulated
    if results_text:
        paper.results_text = results_text
        paper.experimental_results, problem = parse_results_turn(results_text)
        if problem:
            paper.problems.append(problem)
    else:
        paper.problems.append("no experimental results turn")
    if second_text:
        paper.second_text = second_text
        sections, problems = parse_second_turn(second_text)
        paper.sections += sections
        paper.problems += problems
    else:
        paper.problems.append("no second turn")
    return paper
