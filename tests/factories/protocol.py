"""Checks shared by the researcher protocol tests."""

from __future__ import annotations

from cycle.data.paper_conversation import Outline
from cycle.data.records import Paper


def assert_parsed_matches(parsed, paper: Paper, outline: Outline) -> None:
    """Every field of the rendered paper and outline came back from the parser."""
    assert parsed.problems == []
    assert parsed.title == paper.title
    assert parsed.abstract == paper.abstract
    assert parsed.sections == [(h, b) for h, b in paper.sections]
    assert (parsed.motivation, parsed.main_idea) == (outline.motivation, outline.main_idea)
    assert (parsed.interestingness, parsed.feasibility, parsed.novelty) == (
        outline.interestingness,
        outline.feasibility,
        outline.novelty,
    )
    assert parsed.experimental_setup == outline.experimental_setup
    assert parsed.experimental_results == outline.experimental_results
