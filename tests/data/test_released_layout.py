"""Released Research-14K rows (fixtures of the released shape in tests/factories/released.py)."""

from __future__ import annotations

from cycle.data.paper_conversation import Outline, fenced_block, render_bibliography
from cycle.data.prompt_bibliography import merge_references, parse_bibliography_turn
from cycle.data.released import paper_from_research14k_row, research14k_bibliography
from tests.factories.released import BIB_USER_TURN, RESULTS, TRAIN_DATA, released_row


def test_train_data_as_released_is_a_fenced_block() -> None:
    row = released_row()
    assert row["train_data"].startswith(" ```json")
    outline = Outline.from_train_data(row["train_data"])
    assert outline.experimental_results == RESULTS and outline.novelty == TRAIN_DATA["novelty"]
    assert Outline.from_train_data(outline.to_train_data()) == outline  # built here: bare JSON


def test_closing_fence_on_the_value_line() -> None:
    body, closed = fenced_block('x\n```json\n[{"a": "\\\\textsc{B}"}]```\ntail', "json")
    assert (body, closed) == ('[{"a": "\\\\textsc{B}"}]', True)
    assert fenced_block("```latex\n\\section{A}", "latex") == ("\\section{A}", False)
    assert fenced_block("```latexfoo\n", "latex") == (None, False)


def test_bibtex_turn_gives_keys_titles_authors_abstracts_matched_to_s2() -> None:
    refs, problems = research14k_bibliography(released_row())
    assert problems == []
    by_key = {r.key: r for r in refs}
    assert list(by_key) == ["lee2021sparse", "muller2020", "zhao2022retrieval", "s2d"]
    lee = by_key["lee2021sparse"]
    assert lee.title == "Sparse Attention for Long Inputs" and lee.authors == [
        "Lee, Ann",
        "Kim, Bo",
    ]
    assert lee.abstract == "We study sparse attention for long inputs." and lee.paper_id == "s2a"
    # abstract inside the entry; S2 record with a null paperId matched across the accent
    assert by_key["muller2020"].abstract == "A lemma, revisited with braces."
    assert by_key["muller2020"].title == "Müller's Lemma Revisited"
    assert by_key["zhao2022retrieval"].paper_id == "s2c"
    # the S2 record no entry matched is kept, keyed by its paperId
    assert (by_key["s2d"].title, by_key["s2d"].abstract) == (
        "A Work the Paper Never Cites",
        "Other.",
    )


def test_rebuilt_prompt_reproduces_the_released_bibliography() -> None:
    refs, _ = research14k_bibliography(released_row())
    rebuilt = render_bibliography(refs[:3])
    for entry in (
        "Abstract: We study sparse",
        "@inproceedings{lee2021sparse,",
        "Abstract: Retrieval",
    ):
        assert entry in rebuilt
    assert rebuilt.index("lee2021sparse") < rebuilt.index("muller2020") < rebuilt.index("zhao2022")
    # a reference known only by its fields is rendered with them, not as a bare @misc{<id>}
    assert "@misc{s2d,\n  title = {A Work the Paper Never Cites}\n}" in render_bibliography(refs)


def test_bibitem_turn_with_empty_references() -> None:
    row = released_row(bibitems=True)
    refs, problems = research14k_bibliography(row)
    assert problems == []
    assert [(r.key, r.title, r.authors, r.year) for r in refs] == [
        ("ng2019graphs", "Word Graphs for Parsing", ["Eve Ng", "Fay Ho"], 2019),
        ("ota2018", "Tree Kernels at Scale", ["Gil Ota"], 2018),
    ]
    assert refs[0].abstract == "Graphs of words." and refs[1].abstract == ""
    prompt = render_bibliography(refs)
    assert "\\bibitem[Ng(2019)]{ng2019graphs}" in prompt and "Abstract: Graphs of words." in prompt
    assert paper_from_research14k_row(row).references == refs


def test_unmatched_and_malformed_entries_are_reported_not_lost() -> None:
    turn = parse_bibliography_turn(
        "Abstract: orphan\n\n" + "Abstract: x\n@misc{a, title={Unclosed\n\n" + BIB_USER_TURN
    )
    assert any("Abstract line without an entry" in p for p in turn.problems)
    assert any("unbalanced braces in '@misc{a, title={Unclosed" in p for p in turn.problems)
    assert [r.key for r in turn.references] == ["lee2021sparse", "muller2020", "zhao2022retrieval"]
    refs, matched = merge_references(turn.references, [{"paperId": None, "title": "Zzz"}])
    assert matched == 0 and refs[-1].key == "ref1" and refs[-1].title == "Zzz"
    _, problems = research14k_bibliography(
        {
            "references": [{"paperId": "q", "title": "Nothing alike"}],
            **{"messages": released_row()["messages"]},
        }
    )
    assert any("0 of 3 bibliography entries matched" in p for p in problems)


def test_string_macros_are_resolved_and_not_references() -> None:
    turn = parse_bibliography_turn(
        "@string{icml = {International Conference on Machine Learning}}\n\n"
        "@comment{generated}\n\n" + BIB_USER_TURN.replace("{ICML}", "icml")
    )
    assert [r.key for r in turn.references] == ["lee2021sparse", "muller2020", "zhao2022retrieval"]
    assert turn.references[0].venue == "International Conference on Machine Learning"
