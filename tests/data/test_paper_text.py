"""A paper's text from LaTeX, Markdown or a PDF: the Markdown cleaning rule and the forum
builder's fallbacks (paper.tex, else paper.md, else paper.pdf)."""

from __future__ import annotations

import json

import pytest

from cycle.data.markdown_paper import NoPaperBody, clean_markdown_paper
from cycle.data.openreview import load_forum
from cycle.data.paper_text import PaperTextError, pdf_markdown
from tests.factories.openreview import forum, review_note
from tests.factories.paper_text import DOCLING_MD


def tiny_pdf(lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica text, one line per entry), written by hand."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 11 Tf 72 720 Td 14 TL " + " ".join(f"({esc(t)}) Tj T*" for t in lines)
    content += " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        "/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for i, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out


PDF_LINES = [
    "A Tiny Study of PDFs",
    "Ada Lovelace, Analytical Engine Lab",
    "ada@engine.example",
    "Abstract",
    "We study how papers look as PDFs.",
    "1 Introduction",
    "PDFs hold text.",
    "2 Method",
    "We read it with pypdf.",
    "References",
    "[1] A. Person. A book. 1843.",
]


def test_markdown_cleaning_cuts_authors_acknowledgments_and_references():
    paper = clean_markdown_paper(DOCLING_MD)
    assert paper.title == "A Tiny Study of Markdown"
    assert paper.abstract == "We study how papers look as Markdown."
    assert [h for h, _ in paper.sections] == ["1 Introduction", "1.1 Contributions"]
    text = repr(paper)
    for gone in ("Lovelace", "engine.example", "London", "image", "thank", "A book", "appendix"):
        assert gone not in text, gone
    assert "### A deeper heading stays inside" in paper.sections[1][1]
    kept = clean_markdown_paper(DOCLING_MD, keep_appendix=True)
    assert [h for h, _ in kept.sections][-1] == "A Proofs" and "A book" not in repr(kept)


def test_markdown_without_abstract_starts_at_the_introduction_or_is_refused():
    no_abstract = DOCLING_MD.replace("## Abstract\n\nWe study how papers look as Markdown.\n", "")
    paper = clean_markdown_paper(no_abstract)
    assert paper.abstract == "" and paper.sections[0][0] == "1 Introduction"
    assert "Lovelace" not in repr(paper)
    with pytest.raises(NoPaperBody, match="author block"):
        clean_markdown_paper("## Title\n\nAda Lovelace\n\n## Method\n\nText.\n")


def test_pdf_text_gets_headings_and_the_markdown_rule():
    md = pdf_markdown(tiny_pdf(PDF_LINES))
    assert "## 1 Introduction" in md and "## Abstract" in md
    paper = clean_markdown_paper(md)
    assert paper.abstract == "We study how papers look as PDFs."
    assert paper.sections == [("1 Introduction", "PDFs hold text."), ("2 Method", "We read it with pypdf.")]  # fmt: skip
    with pytest.raises(PaperTextError, match="unreadable PDF"):
        pdf_markdown(b"%PDF-1.4\nnot really a pdf")


def _forum_folder(tmp_path, name):
    folder = tmp_path / "forums" / name
    folder.mkdir(parents=True)
    (folder / "notes.json").write_text(json.dumps(forum([review_note(0, 6), review_note(1, 8)])))
    return folder


def test_forum_with_only_markdown_or_only_pdf_builds(tmp_path):
    md = _forum_folder(tmp_path, "md")
    (md / "paper.md").write_text(DOCLING_MD)
    pdf = _forum_folder(tmp_path, "pdf")
    (pdf / "paper.pdf").write_bytes(tiny_pdf(PDF_LINES))
    rp, problems = load_forum(md, data_root=tmp_path / "forums")
    assert rp.paper.text_source == "markdown" and rp.ratings == [6, 8], problems
    assert rp.paper.abstract.startswith("We study") and "Lovelace" not in rp.paper.text
    rp, problems = load_forum(pdf, data_root=tmp_path / "forums")
    assert rp.paper.text_source == "pdf" and rp.paper.sections[1] == ("2 Method", "We read it with pypdf.")  # fmt: skip
    assert "Lovelace" not in rp.paper.text and "A book" not in rp.paper.text
    # LaTeX wins over the others; a present but unusable file rejects with the reason
    (pdf / "paper.tex").write_text(
        "\\title{T}\\begin{abstract}A.\\end{abstract}\n\\section{S}\nX.\n"
    )
    rp, _ = load_forum(pdf, data_root=tmp_path / "forums")
    assert rp.paper.text_source == "tex" and rp.paper.sections == [("S", "X.")]
    (md / "paper.md").write_text("## Title\n\nAda Lovelace\n")
    rp, problems = load_forum(md, data_root=tmp_path / "forums")
    assert rp is None and "paper.md: no Abstract or Introduction heading" in problems[-1].reason
    (md / "paper.md").unlink()
    rp, problems = load_forum(md, data_root=tmp_path / "forums")
    assert rp is None and "paper.tex, paper.md or paper.pdf" in problems[-1].reason


def test_a_symlinked_markdown_outside_the_forum_is_refused(tmp_path):
    folder = _forum_folder(tmp_path, "link")
    secret = tmp_path / "secret.md"
    secret.write_text(DOCLING_MD)
    (folder / "paper.md").symlink_to(secret)
    rp, problems = load_forum(folder, data_root=tmp_path / "forums")
    assert rp is None and "resolves outside" in problems[-1].reason
