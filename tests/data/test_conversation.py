"""The five-message conversation (docs/formats.md §3) and the outline extractors."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from cycle.data.outline import (
    HeuristicOutline,
    LLMOutline,
    build_outline_extractor,
    parse_outline_json,
    tables,
)
from cycle.data.paper_conversation import (
    SYSTEM_PROMPT,
    USER_INSTRUCTION,
    Outline,
    paper_messages,
    split_halves,
)
from cycle.data.records import Paper, Reference

TABLE = r"""\begin{table}[t]
\caption{Accuracy on \textsc{Bench}}
\begin{tabular}{l|cc}
\toprule
Method & Acc & F1 \\ \midrule
Baseline \cite{k1} & 71.2 & 0.70 \\
\textbf{Ours} & 75.4 & 0.74 \\
\bottomrule
\end{tabular}
\end{table}"""

PAPER = Paper(
    paper_id="2301.00001",
    title="Sparse Routing",
    abstract="We propose a novel router.",
    sections=[
        (
            "Introduction",
            "Large models are costly \\cite{k1}.\n\nRouting helps.\n\nThird paragraph.",
        ),
        ("Related Work", "Prior work."),
        ("Method", "We route tokens with $\\alpha$.\n\nDetails."),
        (
            "Experiments",
            "\\subsection{Setup}\nWe use a learning rate of 0.1.\n\\subsection{Main results}\n"
            + TABLE,
        ),
        ("Ablation Study", "Removing the router hurts."),
        ("Conclusion", "Done."),
    ],
    references=[
        Reference("k1", abstract="Costly models.", bibtex="@article{k1,\n  title = {One}\n}"),
        Reference("k2", bibtex="@misc{k2,\n  title = {Two}\n}"),
    ],
    date="2023-01-01",
)


def test_split_halves():
    first, second = split_halves(PAPER.sections)
    assert [h for h, _ in first] == ["Introduction", "Related Work", "Method"]
    assert [h for h, _ in second] == ["Experiments", "Ablation Study", "Conclusion"]
    assert split_halves([("Intro", "a"), ("Approach", "b")]) == (
        [("Intro", "a")],
        [("Approach", "b")],
    )
    assert split_halves([("Only", "x")]) == ([("Only", "x")], [])


def test_tables_parse_into_rows():
    [table] = tables(TABLE)
    assert table["name"] == "Accuracy on Bench"
    assert table["result"]["table"] == [
        ["Method", "Acc", "F1"],
        ["Baseline", "71.2", "0.70"],
        ["Ours", "75.4", "0.74"],
    ]


def test_heuristic_outline_on_a_small_paper():
    outline, problems = HeuristicOutline().extract_one(PAPER)
    assert problems == []
    assert outline.motivation == "Large models are costly. Routing helps."
    assert outline.main_idea.startswith("We propose a novel router. We route tokens with")
    assert [s["name"] for s in outline.experimental_setup] == [
        "Setup",
        "Main results",
        "Ablation Study",
    ]
    assert outline.experimental_results[0]["result"]["table"][2] == ["Ours", "75.4", "0.74"]
    # interestingness: ablation (+1); feasibility: >=2 setup items, learning rate (+2);
    # novelty: related work, "novel" in the abstract (+2).
    assert (outline.interestingness, outline.feasibility, outline.novelty) == (6, 7, 7)
    none, why = HeuristicOutline().extract_one(Paper("x", sections=[("Intro", "a")]))
    assert none is None and "experiment half" in why[0]


def test_conversation_layout_and_round_trip():
    outline = Outline(
        motivation="Gap \\cite{k1}.",
        main_idea="Idea with \\textsc{x} and \\n.",
        interestingness=6,
        feasibility=7,
        novelty=8,
        experimental_setup=[{"name": "Setup", "description": "Use \\texttt{run.py}\ttab"}],
        experimental_results=[
            {"name": "Main", "result": {"table": [["M", "Acc"], ["\\textbf{Ours}", "75"]]}}
        ],
    )
    messages = paper_messages(PAPER, outline)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    user = messages[1]["content"]
    assert user == (
        "Abstract: Costly models.\n@article{k1,\n  title = {One}\n}\n\n@misc{k2,\n  title = {Two}\n}\n\n"
        + USER_INSTRUCTION
    )
    turn = messages[2]["content"]
    headers = re.findall(r"^## (.+)$", turn, re.MULTILINE)
    assert headers[:5] == ["Motivation", "Main Idea", "Interestingness", "Feasibility", "Novelty"]
    assert headers[-1] == "Experimental Setup"
    assert re.search(r"## Novelty\n\n8\n", turn)
    first = re.search(r"```latex\n(.*?)\n```", turn, re.DOTALL).group(1)
    assert first.startswith(
        "\\title{Sparse Routing}\n\n\\begin{abstract}\nWe propose a novel router.\n\\end{abstract}"
    )
    assert "\\section{Method}" in first and "\\section{Experiments}" not in first
    setup = json.loads(
        re.search(r"## Experimental Setup\n\n```json\n(.*?)\n```", turn, re.DOTALL).group(1)
    )
    assert setup == outline.experimental_setup  # backslashes and the tab survive
    assert messages[3]["content"].startswith("## Experimental_results\n\n```json\n")
    results = json.loads(
        re.search(r"```json\n(.*?)\n```", messages[3]["content"], re.DOTALL).group(1)
    )
    assert results == outline.experimental_results
    second = re.fullmatch(r"```latex\n(.*)\n```", messages[4]["content"], re.DOTALL).group(1)
    assert second.startswith("\\section{Experiments}") and second.endswith(
        "\\section{Conclusion}\nDone."
    )
    assert Outline.from_train_data(outline.to_train_data()) == outline
    with_topic = paper_messages(PAPER, outline, topic="MoE")[1]["content"]
    assert with_topic.startswith("Generate a research paper on the topic: MoE\n\nAbstract:")


class FakeGenerator:
    def __init__(self, answers):
        self.answers, self.prompts = answers, []

    def generate(self, prompts, sampling):
        self.prompts += prompts
        return [[SimpleNamespace(text=self.answers.pop(0))] for _ in prompts]


GOOD = {
    "motivation": "m",
    "main_idea": "i",
    "interestingness": "7",
    "feasibility": 11,
    "novelty": 4.6,
    "experimental_setup": [{"name": "A", "description": "d"}],
    "experimental_results": [{"name": "A", "result": {"table": [["x"], ["1"]]}}],
}


def test_llm_outline_parses_and_reports():
    gen = FakeGenerator(
        [
            f"Sure:\n```json\n{json.dumps(GOOD)}\n```",
            "no json here",
            json.dumps({**GOOD, "novelty": "high"}),
        ]
    )
    extractor = LLMOutline(gen, sampling=None, prompt="Summarize:\n{paper}", batch_size=2)
    (first, p1), (second, p2), (third, p3) = extractor.extract([PAPER, PAPER, PAPER])
    assert (first.interestingness, first.feasibility, first.novelty) == (7, 10, 5) and p1 == []
    assert second is None and "not JSON" in p2[0]
    assert third.novelty == 5 and "novelty" in p3[0]
    assert gen.prompts[0][0]["content"].startswith("Summarize:\n\\title{Sparse Routing}")
    assert (
        parse_outline_json('{"motivation": "m", "main_idea": "i", "experimental_setup": {}}')[0]
        is None
    )


def test_outline_extractor_selection():
    assert isinstance(
        build_outline_extractor(SimpleNamespace(method="heuristic")), HeuristicOutline
    )
    with pytest.raises(ValueError):
        build_outline_extractor(
            SimpleNamespace(method="llm", prompt=None, max_paper_chars=1, batch_size=1)
        )
    with pytest.raises(ValueError):
        build_outline_extractor(SimpleNamespace(method="magic"))
