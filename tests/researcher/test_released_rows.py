"""Released Research-14K rows through the researcher: parsing, prompts, Table 7, export, CLI."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cycle.core.config import load_stage_config
from cycle.core.stages import run_stage
from cycle.data.paper_conversation import USER_INSTRUCTION
from cycle.data.released import research14k_bibliography, research14k_references
from cycle.researcher.data import sft_conversations
from cycle.researcher.export import to_tex
from cycle.researcher.protocol import build_prompt, parse_paper, parse_results_turn
from cycle.researcher.report import references_cited, write_report
from tests.factories.released import RESULTS, RESULTS_TURN, released_row


def _released_paper(row: dict):
    m = row["messages"]
    return parse_paper(
        m[2]["content"], m[3]["content"], m[4]["content"], research14k_references(row)
    )


def test_results_turn_with_the_fence_on_the_value_line() -> None:
    assert parse_results_turn(RESULTS_TURN) == (RESULTS, None)
    paper = _released_paper(released_row())
    assert paper.experimental_results == RESULTS and paper.experimental_setup[0]["name"] == "Main"
    assert not [p for p in paper.problems if "JSON" in p], paper.problems


def test_table7_counts_the_real_cite_keys(tmp_path: Path, caplog) -> None:
    paper = _released_paper(released_row())
    # \cite{lee2021sparse}, \citep{zhao2022retrieval, muller2020}; unknown2000 is not given
    assert references_cited(paper) == 3
    metrics = write_report(tmp_path, [paper])
    assert metrics["mean_references_cited"] == 3
    # references without the paper's keys: zero matches is a warning, not a silent 0
    paper.references = [r.__class__(key=r.paper_id or "x", title=r.title) for r in paper.references]
    with caplog.at_level(logging.WARNING):
        write_report(tmp_path, [paper])
    assert "no cited key is in their bibliography" in caplog.text
    assert "Warning:" in (tmp_path / "report.md").read_text()


def test_exported_tex_defines_every_cited_key_and_keeps_keyless_references() -> None:
    paper = _released_paper(released_row())
    paper.references.append(paper.references[0].__class__(key="", title="No Key Here"))
    tex = to_tex(paper)
    for key in ("lee2021sparse", "muller2020", "zhao2022retrieval", "unknown2000", "s2d"):
        assert f"\\bibitem{{{key}}}" in tex
    assert "No Key Here" in tex and "\\bibitem{ref5}" in tex


def test_sft_prompts_keep_the_bibliography_with_max_references() -> None:
    conversations, rejected = sft_conversations([released_row(), released_row("p2", True)], 2)
    assert rejected == []
    first, second = conversations[0][1]["content"], conversations[1][1]["content"]
    assert "Abstract: We study sparse" in first and "@article{muller2020," in first
    assert "zhao2022retrieval" not in first  # max_references=2 keeps the first two
    assert "\\bibitem{ota2018}" in second and "Word Graphs" in second


def test_build_data_released_file_then_generate_and_rlloop_prompts(tmp_path: Path) -> None:
    """`cycle build_data data=research14k data.research14k_id=<file>`, then the prompts of
    `cycle generate` and `cycle rlloop` keep every reference's key, title and abstract."""
    from cycle.researcher.stages import _prompt_rows
    from cycle.rlloop.prompts import load_prompts

    path = tmp_path / "released.jsonl"
    rows = [released_row("p1"), released_row("p2", bibitems=True)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    root = [f"paths.root_dir={tmp_path}", "experiment_name=rel"]
    run_stage(
        "build_data",
        ["data=research14k", f"data.research14k_id={path}", "token_stats=false", *root],
        run_dir=tmp_path / "runs" / "build_data" / "rel",
    )
    gen = load_stage_config("generate", ["split=train", "max_references=null", *root])
    prompts = {p["prompt_id"]: p["references"] for p in _prompt_rows(gen)}
    expected = {row["paperId"]: research14k_references(row) for row in rows}
    assert prompts == expected
    lee = prompts["p1"][0]
    assert (lee.key, lee.title, lee.abstract) == (
        "lee2021sparse",
        "Sparse Attention for Long Inputs",
        "We study sparse attention for long inputs.",
    )
    loop = load_stage_config("rlloop", [*root, "prompts.max_references=null"])
    for prompt in load_prompts(loop, "train", None):
        user = prompt.messages[1]["content"]
        assert user == build_prompt(expected[prompt.prompt_id])[1]["content"]
        for ref in expected[prompt.prompt_id]:
            assert ref.key in user and (not ref.abstract or f"Abstract: {ref.abstract}" in user)


# natbib's \bibitem labels wrap at the line width, inside and outside braces.
NATBIB_USER_TURN = (
    "\\bibitem[Lee and Kim(2021)Lee, Kim, Park, Choi, Jung, and\n  Han]{lee2021sparse}\n"
    "Ann Lee and Bo Kim.\n\\newblock Sparse Attention for Long Inputs.\n\\newblock In ICML, 2021.\n\n"
    '\\bibitem[{M{\\"u}ller et~al.(2020)M{\\"u}ller, Ng, Ota,\n  and Lee}]\n  {muller2020}\n'
    'Carl M\\"uller.\n\\newblock M\\"uller\'s Lemma Revisited.\n\\newblock JMLR, 2020.\n\n'
    "\\bibitem[Zhao(2022)]{zhao2022retrieval}\n"
    "Dan Zhao.\n\\newblock Retrieval-Augmented Models: A Survey.\n\\newblock 2022.\n\n"
    "\\bibitem[Broken(2019)\n{never2019}\nNo closing bracket.\n\n" + USER_INSTRUCTION
)


def test_natbib_bibitem_labels_across_line_breaks_resolve_their_keys(tmp_path: Path) -> None:
    row = released_row(bibitems=True)
    row["messages"][1]["content"] = NATBIB_USER_TURN
    refs, problems = research14k_bibliography(row)
    assert [r.key for r in refs] == ["lee2021sparse", "muller2020", "zhao2022retrieval", ""]
    assert refs[0].title == "Sparse Attention for Long Inputs" and refs[0].year == 2021
    assert any("an entry without a key" in p and "Broken" in p for p in problems)
    paper = _released_paper(row)
    assert references_cited(paper) == 3  # Table 7: every key the paper cites and the turn gives
    assert write_report(tmp_path, [paper])["mean_references_cited"] == 3
    tex = to_tex(paper)
    for key in ("lee2021sparse", "muller2020", "zhao2022retrieval"):
        assert f"\\bibitem{{{key}}}\n" in tex and f"\\texttt{{{key}}}" not in tex
    assert "Cited as \\texttt{unknown2000}; not in the given bibliography." in tex


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
def test_windows_line_endings_lose_nothing(ending: str) -> None:
    """A released row saved with CRLF (or CR) line endings parses to the same paper."""
    row = released_row()
    first = row["messages"][2]["content"].replace(
        "\\begin{abstract}\nWe combine them.", "\\begin{abstract}\nWe combine them.\nTwice."
    )
    row["messages"][2]["content"] = first
    lf = _released_paper(row)
    for message in row["messages"]:
        message["content"] = message["content"].replace("\n", ending)
    other = _released_paper(row)
    assert (other.motivation, other.main_idea) == ("Long inputs are slow.", "Sparse retrieval.")
    assert (other.interestingness, other.feasibility, other.novelty) == (7, 6, 6)
    assert other.abstract == lf.abstract == "We combine them.\nTwice."
    assert [(r.key, r.abstract) for r in other.references] == [
        (r.key, r.abstract) for r in lf.references
    ]
    for name in ("title", "sections", "experimental_setup", "experimental_results", "problems"):
        assert getattr(other, name) == getattr(lf, name), name
    assert other.outline_text.count(ending) == first.count("\n")  # the turn is kept as generated
