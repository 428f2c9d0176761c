"""A ``GeneratedPaper`` as a compilable ``.tex`` document and as Markdown for reading.

Both carry the AI-generation disclosure (``cycle.core.disclosure``), with the simulated-results
sentence when the experiment runner was ``simulated``. The LaTeX bibliography is a
``thebibliography`` built from the prompt's references, so one ``pdflatex`` run needs no BibTeX;
``graphicx`` is loaded in ``demo`` mode so figures the model names (and nobody drew) compile as
placeholders.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable

from cycle.core.disclosure import append_disclosure
from cycle.data.outline import latex_to_text
from cycle.data.records import Reference
from cycle.researcher.protocol import SCORE_FIELDS, GeneratedPaper
from cycle.researcher.report import paper_cited_keys

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage[utf8]{inputenc}
\usepackage[T1]{fontenc}
\usepackage{amsmath,amssymb,amsfonts}
\usepackage{booktabs,multirow,array}
\usepackage[demo]{graphicx}
\usepackage{xcolor}
\usepackage{url}
\usepackage[numbers,sort]{natbib}
\usepackage[hidelinks]{hyperref}
"""

_SPECIAL = re.compile(r"([&%$#_{}])")


def _escape(text: str) -> str:
    """Plain text (titles, author names) made safe for LaTeX."""
    text = text.replace("\\", r"\textbackslash{}")
    text = _SPECIAL.sub(r"\\\1", text)
    return text.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")


def _bibitem(ref: Reference) -> str:
    parts = []
    if ref.authors:
        parts.append(_escape(", ".join(ref.authors)))
    title = ref.title or ref.key
    parts.append(f"\\newblock {_escape(title)}")
    where = ", ".join(str(x) for x in (ref.venue, ref.year) if x)
    if where:
        parts.append(f"\\newblock {_escape(where)}")
    return f"\\bibitem{{{ref.key}}}\n" + ".\n".join(parts) + "."


def bibliography_latex(references: list[Reference], cited: Iterable[str] = ()) -> str:
    """``thebibliography`` with every reference (one without a key gets ``ref<i>``) and a
    placeholder item for each cited key no reference has, so that no citation is undefined."""
    refs = [
        r if r.key else dataclasses.replace(r, key=f"ref{i}")
        for i, r in enumerate(references, start=1)
    ]
    known = {r.key for r in refs}
    items = [_bibitem(r) for r in refs]
    items += [
        f"\\bibitem{{{key}}}\nCited as \\texttt{{{_escape(key)}}}; not in the given bibliography."
        for key in sorted(set(cited) - known)
    ]
    if not items:
        return ""
    return "\\begin{thebibliography}{99}\n" + "\n\n".join(items) + "\n\\end{thebibliography}"


def to_tex(paper: GeneratedPaper) -> str:
    """A complete LaTeX document: title, abstract, sections, bibliography, disclosure."""
    body = [
        PREAMBLE,
        f"\\title{{{paper.title or 'Untitled'}}}",
        "\\author{CycleResearcher (AI-generated)}",
        "\\date{}",
        "",
        "\\begin{document}",
        "\\maketitle",
        "",
        f"\\begin{{abstract}}\n{paper.abstract}\n\\end{{abstract}}",
        "",
    ]
    body += [f"\\section{{{heading}}}\n{text}\n" for heading, text in paper.sections]
    bib = bibliography_latex(paper.references, paper_cited_keys(paper))
    if bib:
        body.append(bib)
    body += ["", "\\end{document}", ""]
    return append_disclosure("\n".join(body), simulated=paper.simulated, fmt="latex")


def _readable(latex: str) -> str:
    """LaTeX to plain paragraphs (blank-line separated), for Markdown."""
    paragraphs = [latex_to_text(p) for p in re.split(r"\n\s*\n", latex)]
    return "\n\n".join(p for p in paragraphs if p)


def to_markdown(paper: GeneratedPaper) -> str:
    """The paper for reading: outline, self-assessment, text, setup/results JSON, references."""
    out = [f"# {latex_to_text(paper.title) or 'Untitled'}", "", "## Abstract", ""]
    out += [_readable(paper.abstract), ""]
    if paper.motivation or paper.main_idea:
        out += ["## Motivation", "", paper.motivation, "", "## Main Idea", "", paper.main_idea, ""]
    scores = [f"{name}: {getattr(paper, name)}" for name in SCORE_FIELDS]
    out += ["Self-assessment: " + ", ".join(scores), ""]
    for heading, text in paper.sections:
        out += [f"## {latex_to_text(heading)}", "", _readable(text), ""]
    for name, value in (
        ("Experimental Setup", paper.experimental_setup),
        ("Experimental Results", paper.experimental_results),
    ):
        if value is not None:
            out += [f"## {name}", "", "```json", json.dumps(value, indent=2), "```", ""]
    if paper.references:
        out += ["## References", ""]
        out += [
            f"- [{r.key}] {r.title}" + (f" ({r.year})" if r.year else "") for r in paper.references
        ]
    return append_disclosure("\n".join(out), simulated=paper.simulated, fmt="markdown")
