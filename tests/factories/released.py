"""Research-14K rows and DeepReviewer review records in the released layouts, written from their
format facts (no released text).

- ``references``: Semantic Scholar records (``paperId`` may be null, ``title``, ``abstract``),
  no bib key and no BibTeX; the keys the paper cites live only in the user turn.
- user turn: BibTeX entries, each preceded by an ``Abstract: ...`` line when its abstract is
  known (or, for one entry, an ``abstract`` field inside it), then the instruction; a second row
  lists ``\\bibitem`` entries and has an empty ``references`` list.
- results turn: the closing fence follows the JSON on the same line.
- ``train_data``: itself a fenced block, starting with a space.
"""

from __future__ import annotations

import json
from typing import Any

from cycle.data.paper_conversation import SYSTEM_PROMPT, USER_INSTRUCTION

BIB_USER_TURN = (
    "Abstract: We study sparse attention for long inputs.\n"
    "@inproceedings{lee2021sparse,\n"
    "  title = {Sparse Attention for Long Inputs},\n"
    "  author = {Lee, Ann and Kim, Bo},\n"
    "  booktitle = {ICML},\n"
    "  year = {2021}\n"
    "}\n\n"
    "@article{muller2020,\n"
    "  title = {{M}{\\\"u}ller's Lemma Revisited},\n"
    '  author = {M{\\"u}ller, Carl},\n'
    "  journal = {JMLR},\n"
    "  year = {2020},\n"
    "  abstract = {A lemma, revisited with {braces}.}\n"
    "}\n\n"
    "Abstract: Retrieval helps language models.\n"
    "@misc{zhao2022retrieval,\n"
    "  title = {Retrieval-Augmented Models: A Survey},\n"
    "  author = {Zhao, Dan},\n"
    "  year = {2022}\n"
    "}\n\n" + USER_INSTRUCTION
)

BIBITEM_USER_TURN = (
    "Abstract: Graphs of words.\n"
    "\\bibitem[Ng(2019)]{ng2019graphs}\n"
    "Eve Ng and Fay Ho.\n"
    "\\newblock Word Graphs for Parsing.\n"
    "\\newblock In \\emph{ACL}, 2019.\n\n"
    "\\bibitem{ota2018}\n"
    "Gil Ota. Tree Kernels at Scale. NeurIPS, 2018.\n\n" + USER_INSTRUCTION
)

FIRST_TURN = (
    "## Motivation\n\nLong inputs are slow.\n\n## Main Idea\n\nSparse retrieval.\n\n"
    "## Interestingness\n\n7\n\n## Feasibility\n\n6\n\n## Novelty\n\n6\n\n"
    "```latex\n\\title{Sparse Retrieval}\n\n\\begin{abstract}\nWe combine them.\n\\end{abstract}\n\n"
    "\\section{Introduction}\nSparse attention \\cite{lee2021sparse} and retrieval "
    "\\citep{zhao2022retrieval, muller2020} help; see also \\cite{unknown2000}.\n\n"
    "\\section{Method}\nWe combine them.\n```\n\n"
    '## Experimental Setup\n\n```json\n[{"name": "Main", "description": "Compare."}]```'
)
RESULTS = [{"name": "Main", "result": {"table": [["Model", "\\textsc{Acc}"], ["Ours", "91.0"]]}}]
# Single-backslash LaTeX, closing fence on the value's line (released layout).
RESULTS_TURN = (
    '## Experimental_results\n\n```json\n[{"name": "Main", "result": {"table": '
    '[["Model", "\\textsc{Acc}"], ["Ours", "91.0"]]}}]```'
)
SECOND_TURN = (
    "```latex\n\\section{Experiments}\nResults follow \\cite{lee2021sparse}.\n\n"
    "\\section{Conclusion}\nDone.\n```"
)
TRAIN_DATA = {
    "motivation": "Long inputs are slow.",
    "main_idea": "Sparse retrieval.",
    "experimental_setup": [{"name": "Main", "description": "Compare."}],
    "experimental_results": RESULTS,
    "interestingness": 7,
    "feasibility": 6,
    "novelty": 6,
}


def released_row(paper_id: str = "p1", bibitems: bool = False) -> dict[str, Any]:
    references = (
        []
        if bibitems
        else [
            {"paperId": "s2a", "title": "Sparse attention for long inputs.", "abstract": None},
            {"paperId": None, "title": "Muller's Lemma Revisited", "abstract": "S2 abstract."},
            {"paperId": "s2c", "title": "Retrieval-augmented models: a survey", "abstract": ""},
            {"paperId": "s2d", "title": "A Work the Paper Never Cites", "abstract": "Other."},
        ]
    )
    return {
        "paperId": paper_id,
        "title": "Sparse Retrieval",
        "abstract": "We combine them.",
        "venue": "International Conference on Learning Representations",
        "year": 2024,
        "authors": [{"authorId": "1", "name": "Ada"}],
        "arxiv": "2401.00001",
        "references": references,
        "sections": [["Introduction", "Sparse attention."], ["Experiments", "Results."]],
        "figures": [],
        "train_data": " ```json\n" + json.dumps(TRAIN_DATA, indent=2) + "\n```",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": BIBITEM_USER_TURN if bibitems else BIB_USER_TURN},
            {"role": "assistant", "content": FIRST_TURN},
            {"role": "user", "content": RESULTS_TURN},
            {"role": "assistant", "content": SECOND_TURN},
        ],
    }


RESEARCH_ROW = {
    "paperId": "abc",
    "title": "T",
    "abstract": "A",
    "venue": "International Conference on Learning Representations",
    "year": 2024,
    "authors": [{"authorId": "1", "name": "Ada"}],
    "arxiv": "2401.00001",
    "references": [{"paperId": "r1", "title": "R", "abstract": "RA"}],
    "sections": [["Introduction", "Hi \\cite{x}"], ["Experiments", "Table"]],
    "figures": ["f.pdf"],
    "train_data": "{}",
    "messages": [{"role": "system", "content": "s"}],
}


REVIEW_RECORD = {  # DeepReviewer sample.json layout
    "id": "F9",
    "title": "Paper",
    "paper_context": "\\title{Paper}\\begin{abstract}Abs.\\end{abstract}\n\\section{Intro}\nText.",
    "decision": "Reject",
    "review": [
        {
            "id": "r1",
            "rating": 6,
            "content": {
                "summary": "s",
                "rating": "6: marginally above the acceptance threshold",
                "soundness": "3 good",
                "confidence": "3: fairly",
            },
        },  # fmt: skip
        {"id": "r2", "content": {"summary": "t", "rating": "N/A"}},
    ],
}
