"""The paper protocol: prompt, render -> parse identity, LaTeX-safe JSON, tolerant parsing, export."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycle.core.disclosure import has_disclosure, has_simulated_disclosure
from cycle.data.paper_conversation import Outline, paper_messages
from cycle.data.records import Paper, Reference
from cycle.researcher.export import to_markdown, to_tex
from cycle.researcher.latex_json import loads_latex_json, repair_latex_escapes
from cycle.researcher.protocol import (
    GeneratedPaper,
    build_prompt,
    parse_outline_turn,
    parse_paper,
    results_message,
)
from tests.factories.protocol import assert_parsed_matches

REFS = [
    Reference(
        key="smith2020",
        title="Old Idea",
        abstract="We did a thing.",
        bibtex="@article{smith2020,\n  title = {Old Idea}\n}",
    ),
    Reference(
        key="lee2021", title="No Abstract", bibtex="@misc{lee2021,\n  title = {No Abstract}\n}"
    ),
]

# Text without the protocol's own delimiters (headings, fences, sectioning) or control characters.
_WORDS = st.sampled_from(
    [
        "model",
        "data",
        "we",
        "propose",
        "results",
        "0.5",
        "$x^2$",
        "\\textsc{Net}",
        "\\cite{smith2020}",
        "\\alpha",
        "\\nabla",
        "\\beta",
        "\\frac{1}{2}",
        "100\\%",
        '"quoted"',
        "é",
        "a_b",
        "{braced}",
    ]
)
_text = st.lists(_WORDS, min_size=1, max_size=12).map(" ".join)
_paragraphs = st.lists(_text, min_size=1, max_size=3).map("\n\n".join)
_heading = st.lists(
    st.sampled_from(["Method", "Our", "\\textsc{Net}", "Results", "Setup", "Deep", "Conclusion"]),
    min_size=1,
    max_size=3,
).map(" ".join)
_setup = st.lists(st.fixed_dictionaries({"name": _text, "description": _text}), max_size=3)
_result = st.fixed_dictionaries(
    {
        "name": _text,
        "result": st.fixed_dictionaries(
            {
                "table": st.lists(st.lists(_text, min_size=1, max_size=3), min_size=1, max_size=3),
                "description": _text,
            }
        ),
    }
)


@st.composite
def papers(draw: st.DrawFn) -> tuple[Paper, Outline]:
    n_first = draw(st.integers(1, 3))
    sections = [("Introduction", draw(_paragraphs))]
    sections += [
        (
            draw(_heading).replace("Results", "Approach").replace("Conclusion", "Model"),
            draw(_paragraphs),
        )
        for _ in range(n_first - 1)
    ]
    sections += [("Experiments", draw(_paragraphs))]
    sections += [(draw(_heading), draw(_paragraphs)) for _ in range(draw(st.integers(0, 2)))]
    paper = Paper(
        paper_id="p",
        title=draw(_text),
        abstract=draw(_paragraphs),
        sections=sections,
        references=REFS,
    )
    outline = Outline(
        motivation=draw(_paragraphs),
        main_idea=draw(_paragraphs),
        interestingness=draw(st.integers(1, 10)),
        feasibility=draw(st.integers(1, 10)),
        novelty=draw(st.integers(1, 10)),
        experimental_setup=draw(_setup),
        experimental_results=draw(st.lists(_result, max_size=2)),
    )
    return paper, outline


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers())
def test_render_then_parse_is_identity(case: tuple[Paper, Outline]) -> None:
    paper, outline = case
    messages = paper_messages(paper, outline)
    parsed = parse_paper(
        messages[2]["content"], messages[3]["content"], messages[4]["content"], REFS
    )
    assert_parsed_matches(parsed, paper, outline)
    assert parsed.complete


def test_results_message_matches_the_data_renderer() -> None:
    outline = Outline(
        experimental_results=[{"name": "T", "result": {"table": [["\\textsc{A}", "1"]]}}]
    )
    paper = Paper("p", "T", "A", [("Introduction", "x"), ("Experiments", "y")])
    assert (
        results_message(outline.experimental_results)
        == paper_messages(paper, outline)[3]["content"]
    )


def test_prompt_has_abstract_lines_topic_and_limit() -> None:
    system, user = build_prompt(REFS, topic="graph learning")
    assert system["role"] == "system" and user["role"] == "user"
    lines = user["content"].splitlines()
    assert lines[0] == "Generate a research paper on the topic: graph learning"
    assert lines[lines.index("@article{smith2020,") - 1] == "Abstract: We did a thing."
    assert "Abstract:" not in lines[lines.index("@misc{lee2021,") - 1]
    assert "lee2021" not in build_prompt(REFS, max_references=1)[1]["content"]


# --- JSON with LaTeX backslashes ------------------------------------------------------------


def test_single_backslash_latex_in_json_is_kept() -> None:
    # \t of \textsc would decode to a tab, \b of \beta to a backspace; \cite and \% are invalid JSON.
    raw = r'[{"name": "\textsc{Net} vs \beta", "description": "see \cite{a}, 5\% \frac{1}{2} \nabla f"}]'
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    value, error = loads_latex_json(raw)
    assert error is None
    assert value == [
        {
            "name": "\\textsc{Net} vs \\beta",
            "description": "see \\cite{a}, 5\\% \\frac{1}{2} \\nabla f",
        }
    ]


def test_valid_json_still_decodes_tabs_newlines_and_unicode() -> None:
    raw = r'{"a": "\\textsc{X}\nnext line\t 1 tab \u00e9 \"q\" \\\\"}'
    value, error = loads_latex_json(raw)
    assert error is None
    assert value == {"a": '\\textsc{X}\nnext line\t 1 tab é "q" \\\\'}
    # A glued tab control character that strict JSON accepts is read as LaTeX instead.
    assert loads_latex_json(r'"\textbf{x}"')[0] == "\\textbf{x}"
    assert repair_latex_escapes(r'"\nu and \n next"') == r'"\\nu and \n next"'


def test_invalid_json_reports_the_reason() -> None:
    value, error = loads_latex_json('[{"name": "x",')
    assert value is None and error.startswith("invalid JSON")


# --- tolerant parsing and export ------------------------------------------------------------

OUTLINE_TURN = """## Motivation

Gaps exist.

## Main Idea

Do \\textsc{Better}.

## Interestingness

8/10

## Feasibility

seven

## Novelty

12

```latex
\\title{A {Nested} Title}

\\begin{abstract}
We do better~\\cite{smith2020}.
\\end{abstract}

\\section{Introduction}
Intro text~\\cite{smith2020,lee2021}.

\\section{Method}
Method text.
```

## Experimental Setup

```json
[{"name": "Main", "description": "Compare with \\textsc{Base}"}]
```"""


def test_outline_turn_parses_with_problems_reported() -> None:
    paper = parse_outline_turn(OUTLINE_TURN)
    assert paper.title == "A {Nested} Title"
    assert paper.abstract == "We do better~\\cite{smith2020}."
    assert [h for h, _ in paper.sections] == ["Introduction", "Method"]
    assert (paper.interestingness, paper.feasibility, paper.novelty) == (8, None, 10)
    assert paper.main_idea == "Do \\textsc{Better}."
    assert paper.experimental_setup == [
        {"name": "Main", "description": "Compare with \\textsc{Base}"}
    ]
    assert any("feasibility" in p for p in paper.problems)
    assert any("novelty: 12 outside" in p for p in paper.problems)


def test_truncated_generation_is_parsed_not_fatal() -> None:
    cut = OUTLINE_TURN[: OUTLINE_TURN.index("Method text.")]
    paper = parse_paper(cut, "", "", REFS)
    assert paper.title and paper.abstract and len(paper.sections) == 2
    assert "first ```latex block not closed" in paper.problems
    assert "no second turn" in paper.problems
    assert parse_paper("", "", "").problems  # nothing at all: problems, no exception


def test_missing_conclusion_still_exports_compilable_latex() -> None:
    second = "```latex\n\\section{Experiments}\nWe ran \\textsc{Better}.\n```"  # no conclusion
    paper = parse_paper(
        OUTLINE_TURN,
        results_message([{"name": "Main", "result": {"table": [["a", "1"]]}}]),
        second,
        REFS,
        simulated=True,
    )
    assert [h for h, _ in paper.sections] == ["Introduction", "Method", "Experiments"]
    tex = to_tex(paper)
    assert tex.startswith("\\documentclass")
    assert tex.count("\\begin{document}") == tex.count("\\end{document}") == 1
    assert "\\title{A {Nested} Title}" in tex and "\\begin{abstract}" in tex
    assert "\\bibitem{smith2020}" in tex and "\\bibitem{lee2021}" in tex
    assert has_disclosure(tex) and has_simulated_disclosure(tex)
    assert tex.index("AI-Generation Disclosure") < tex.index("\\end{document}")
    _assert_balanced(tex)
    md = to_markdown(paper)
    assert md.startswith("# A Nested Title") and has_disclosure(md) and has_simulated_disclosure(md)


def test_real_results_are_not_called_simulated() -> None:
    paper = parse_paper(
        OUTLINE_TURN,
        results_message([]),
        "```latex\n\\section{Experiments}\nx\n```",
        REFS,
        simulated=False,
    )
    tex = to_tex(paper)
    assert has_disclosure(tex) and not has_simulated_disclosure(tex)


def test_row_round_trip() -> None:
    paper = parse_paper(OUTLINE_TURN, "", "", REFS)
    assert GeneratedPaper.from_row(json.loads(json.dumps(paper.to_row()))) == paper


def _assert_balanced(tex: str) -> None:
    """Every environment closes in order and braces balance (what a LaTeX run needs to finish)."""
    import re

    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", tex):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, name
    assert not stack
    depth = 0
    for m in re.finditer(r"\\.|[{}]", tex):
        depth += {"{": 1, "}": -1}.get(m.group(), 0)
        assert depth >= 0
    assert depth == 0
