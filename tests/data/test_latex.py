"""LaTeX cleaning, input inlining and section splitting on tricky inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cycle.data.arxiv import load_arxiv_paper
from cycle.data.latex_document import parse_document
from cycle.data.latex_source import (
    LatexError,
    expand_file,
    find_main_file,
    remove_skipped_blocks,
    strip_comments,
)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_strip_comments_keeps_escaped_percent_and_verbatim():
    src = (
        "% full line\nWe gain 50\\% here. % trailing note\nline\\\\% after a line break\n"
        "glued%\nword\n\\verb|%v| and\n\\begin{verbatim}\n% kept\n\\end{verbatim}\n"
    )
    out = strip_comments(src)
    assert out == (
        "We gain 50\\% here.\nline\\\\%\nglued%\nword\n\\verb|%v| and\n\\begin{verbatim}\n% kept\n\\end{verbatim}\n"
    )


def test_iffalse_nesting_and_comment_environment():
    src = (
        "a\n\\iffalse\nold {unbalanced\n\\ifx\\a\\b inner \\fi\n\\fi\nb \\iff c\n"
        "\\begin{comment}\n\\section{Gone}\n\\end{comment}\nd\n\\if0 x\\fi e\n"
    )
    out, problems = remove_skipped_blocks(src)
    assert out == "a\n\nb \\iff c\n\nd\n e\n" and problems == []
    out, problems = remove_skipped_blocks("keep \\iffalse never closed")
    assert out == "keep  never closed" and "unterminated" in problems[0]


def test_nested_inputs_cycles_and_escapes(tmp_path):
    root = write(
        tmp_path,
        {
            "ms.tex": "\\documentclass{article}\n\\begin{document}\n\\input{a}\n\\include{sub/b.tex}\n"
            "\\input{missing}\n\\input{../outside}\n% \\input{commented}\n\\end{document}\n",
            "a.tex": "A1 \\input sub/c\n",
            "sub/b.tex": "B1\n\\input{ms}\n",
            "sub/c.tex": "C1 % c comment\n",
            "commented.tex": "SHOULD NOT APPEAR",
            "other.tex": "\\documentclass{article}\n% no document here\n",
        },
    )
    (tmp_path.parent / "outside.tex").write_text("SECRET")
    main = find_main_file(root)
    assert main.name == "ms.tex"
    text, problems = expand_file(main, root)
    assert "A1 C1" in text and "B1" in text
    assert "SHOULD NOT APPEAR" not in text and "SECRET" not in text
    assert text.count("\\documentclass") == 1  # the cycle back to ms.tex was not followed
    joined = " | ".join(problems)
    assert "cyclic" in joined and "missing" in joined and "outside" in joined


def test_no_main_file_is_an_error(tmp_path):
    write(tmp_path, {"notes.tex": "\\section{x}"})
    with pytest.raises(LatexError):
        find_main_file(tmp_path)
    paper, problems = load_arxiv_paper(tmp_path)
    assert paper is None and problems[0].dropped and "documentclass" in problems[0].reason


DOC = r"""\documentclass{article}
\title{Routing {With} Experts\thanks{Funded.}\\ at Scale}
\begin{document}
\maketitle
\begin{abstract}
We gain 5\% on {nested {braces}}.
\end{abstract}
Teaser text.
\section{Introduction}
Intro \citep[see][]{k1,k2} and \citet{k3}.
\section*{Method: {\em Sparse} Routing}
\subsection{Details}
Body \includegraphics[width=2cm]{fig/a.pdf}.
\paragraph{Acknowledgements} Thanks to X.
\subsection{More}
More text.
\section{Experiments}
Results.
\begin{ack}
Grant 42.
\end{ack}
\section*{Acknowledgments}
We thank everyone.
\bibliography{refs,extra}
\appendix
\section{Proofs}
Appendix.
\end{document}
"""


def test_parse_document_structure():
    doc = parse_document(DOC)
    assert doc.title == "Routing {With} Experts at Scale"
    assert doc.abstract == "We gain 5\\% on {nested {braces}}."
    assert [h for h, _ in doc.sections] == [
        "Introduction",
        "Method: {\\em Sparse} Routing",
        "Experiments",
    ]
    method = doc.sections[1][1]
    assert (
        "\\subsection{Details}" in method and "More text." in method and "Thanks to X" not in method
    )
    assert "Grant 42" not in doc.sections[2][1] and "We thank" not in doc.sections[2][1]
    assert doc.cited_keys == ["k1", "k2", "k3"] and doc.bib_files == ["refs", "extra"]
    assert doc.figures == ["fig/a.pdf"] and doc.problems == []
    with_appendix = parse_document(DOC, keep_appendix=True)
    assert [h for h, _ in with_appendix.sections][-1] == "Proofs"


def test_unbalanced_braces_are_reported_not_raised():
    doc = parse_document(
        "\\begin{document}\n\\section{A}\ntext {unclosed\n\\section{B}\nmore\n\\end{document}"
    )
    assert any("malformed" in p for p in doc.problems)
    assert doc.sections and doc.sections[0][0] == "A"


def test_unbalanced_theorem_and_proof_environments_keep_later_sections():
    doc = parse_document(
        "\\documentclass{article}\n\\begin{document}\n"
        "\\section{Introduction}\nText.\n"
        "\\begin{theorem}\nA claim.\n\\begin{proof}\nEasy.\n\\end{theorem}\n"
        "\\section{Method}\nM.\n\\end{proof}\n"
        "\\section{Analysis}\nA.\n\\begin{lemma}\nUnclosed.\n"
        "\\section{Experiments}\nE.\n\\begin{proof}\nAlso unclosed.\n"
        "\\section{Conclusion}\nC.\n\\begin{corollary}\nAt the end.\n"
        "\\end{document}\n"
    )
    assert [h for h, _ in doc.sections] == [
        "Introduction",
        "Method",
        "Analysis",
        "Experiments",
        "Conclusion",
    ]
    assert doc.sections[1][1] == "M." and doc.sections[3][1].startswith("E.")
    assert doc.sections[0][1].endswith("\\end{proof}\n\\end{theorem}")
    assert "\\begin{proof} (line 7) not closed before \\end{theorem} (line 9); closed there" in (
        doc.problems
    )
    assert "\\end{proof} (line 12) without a \\begin{proof}; dropped" in doc.problems
    assert any(
        p.startswith("\\begin{lemma} (line 15) not closed before \\section") for p in doc.problems
    )
    assert any(
        p.startswith("\\begin{corollary} (line 23) not closed before \\end{document}")
        for p in doc.problems
    )
