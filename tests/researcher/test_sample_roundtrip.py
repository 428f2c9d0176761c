"""A conversation built by the data builder from a bundled sample paper parses back to the same fields."""

from __future__ import annotations

from importlib import resources

import pytest

from cycle.data.arxiv import load_arxiv_paper
from cycle.data.outline import HeuristicOutline
from cycle.data.paper_conversation import paper_messages
from cycle.researcher.protocol import parse_paper
from tests.factories.protocol import assert_parsed_matches

ARXIV = resources.files("cycle.data") / "sample" / "arxiv"
FOLDERS = sorted(p.name for p in ARXIV.iterdir() if p.is_dir())[:3]


@pytest.mark.parametrize("folder", FOLDERS)
def test_sample_paper_conversation_parses_back(folder):
    paper, problems = load_arxiv_paper(ARXIV / folder)
    assert paper is not None, problems
    outline, outline_problems = HeuristicOutline().extract_one(paper)
    assert outline is not None, outline_problems
    messages = paper_messages(paper, outline)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant"]
    parsed = parse_paper(
        messages[2]["content"], messages[3]["content"], messages[4]["content"], paper.references
    )
    assert_parsed_matches(parsed, paper, outline)
