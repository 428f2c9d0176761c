"""The disclosure statement: append (LaTeX / Markdown, simulated results) and check."""

from __future__ import annotations

from cycle.core.disclosure import (
    SIMULATED_STATEMENT,
    append_disclosure,
    disclosure_statement,
    has_disclosure,
    has_simulated_disclosure,
)
from cycle.integrity.disclosure import check_disclosure

LATEX = "\\documentclass{article}\n\\begin{document}\n\\title{X}\n\\section{Intro}\nText.\n\\end{document}\n"


def test_append_latex_before_end_document():
    out = append_disclosure(LATEX, simulated=True)
    assert out.rstrip().endswith("\\end{document}")
    assert out.index("\\section*{AI-Generation Disclosure}") < out.index("\\end{document}")
    assert has_disclosure(out) and has_simulated_disclosure(out)
    assert append_disclosure(out, simulated=True) == out  # idempotent
    assert not has_disclosure(LATEX)


def test_append_markdown_and_not_simulated():
    out = append_disclosure("# A paper\n\nBody.", simulated=False)
    assert "## AI-Generation Disclosure" in out
    assert has_disclosure(out) and not has_simulated_disclosure(out)
    assert SIMULATED_STATEMENT not in out


def test_found_after_rewrapping_and_markup():
    text = (
        disclosure_statement("latex")
        .replace(" an AI", "\n  an \\emph{AI}")
        .replace("CycleResearcher", "{CycleResearcher}")
    )
    assert has_disclosure(text)


def test_check_disclosure_reports_missing():
    papers = {
        "a": append_disclosure(LATEX, simulated=True),
        "b": LATEX,
        "c": append_disclosure("plain", simulated=False),
    }
    report = check_disclosure(papers, require_simulated={"a": True, "c": True})
    assert report.missing == ["b"] and report.missing_simulated == ["c"]
    assert report.n_checked == 3 and not report.ok


def test_check_disclosure_files_reads_globs_and_lists_what_it_cannot_read(tmp_path):
    from cycle.integrity.disclosure import check_disclosure_files

    (tmp_path / "a.tex").write_text(append_disclosure(LATEX, simulated=True))
    (tmp_path / "b.tex").write_text(append_disclosure(LATEX, simulated=False))
    (tmp_path / "c.md").write_bytes(b"\xff\xfe not utf-8")
    report, rejects = check_disclosure_files(
        [f"{tmp_path}/*.tex", f"{tmp_path}/c.md", f"{tmp_path}/missing.md"],
        simulated_by_stem={"a": True, "b": True},
    )
    assert report.n_checked == 2 and report.missing_simulated == [f"{tmp_path}/b.tex"]
    assert not report.missing
    assert [(r["id"], r["reason"].split(":")[0]) for r in rejects] == [
        (f"{tmp_path}/c.md", "unreadable"),
        (f"{tmp_path}/missing.md", "no file matches"),
    ]
