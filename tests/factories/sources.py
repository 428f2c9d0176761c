"""A mini corpus of raw sources as ``cycle build_data`` reads them: arXiv-style LaTeX
folders and OpenReview forum dumps, plus one broken folder and one withdrawn forum."""

from __future__ import annotations

import json
from pathlib import Path

RATINGS = ["1: strong reject", "3: reject, not good enough", "5: marginally below the acceptance threshold",
           "6: marginally above the acceptance threshold", "8: accept, good paper",
           "10: strong accept, should be highlighted at the conference"]  # fmt: skip


def write_paper(folder: Path, i: int, date: str) -> None:
    (folder / "sec").mkdir(parents=True)
    (folder / "main.tex").write_text(
        "%% SYNTHETIC\n\\documentclass{article}\n\\title{Paper %d}\n\\begin{document}\n"  # noqa: UP031
        "\\begin{abstract}We gain 5\\%% in accuracy.\\end{abstract}\n"
        "\\input{sec/intro}\n\\section{Method}\nWe propose X \\cite{k1}.\n"
        "\\section{Experiments}\n\\subsection{Setup}\nWe train on Y.\n"
        "\\begin{table}\\caption{Main results}\\begin{tabular}{lc}\\toprule Method & Acc \\\\ Ours & %d.0 \\\\ \\bottomrule\\end{tabular}\\end{table}\n"
        "\\section{Conclusion}\nDone.\n\\section*{Acknowledgments}\nThanks.\n"
        "\\bibliography{refs}\n\\end{document}\n" % (i, 80 + i)
    )
    (folder / "sec" / "intro.tex").write_text(
        "\\section{Introduction}\nMotivation %d \\cite{k2}.\n" % i  # noqa: UP031
    )
    (folder / "refs.bib").write_text(
        "@article{k1, title={One}, author={A, B}, year=2020, abstract={First abstract.}}\n"
        "@article{k2, title={Two}, year=2021}\n"
    )
    (folder / "metadata.json").write_text(
        json.dumps(
            {
                "arxiv": folder.name,
                "title": f"Paper {i}",
                "authors": ["A"],
                "date": date,
                "venue": "ICLR 2024",
                "decision": "Accept (poster)",
                "synthetic": True,
            }
        )  # fmt: skip
    )


def write_forum(folder: Path, i: int) -> None:
    folder.mkdir(parents=True)
    inv = "ICLR.cc/2024/Conference"
    notes = [{"id": folder.name, "forum": folder.name, "invitations": [f"{inv}/-/Submission"],
              "content": {"title": {"value": f"Forum {i}"}, "venueid": {"value": inv}}}]  # fmt: skip
    for j in range(3):
        notes.append({"id": f"{folder.name}r{j}", "forum": folder.name, "replyto": folder.name,
                      "invitations": [f"{inv}/Submission{i}/-/Official_Review"],
                      "content": {"summary": {"value": "S"}, "soundness": {"value": "3 good"},
                                  "presentation": {"value": "2 fair"}, "contribution": {"value": "3 good"},
                                  "strengths": {"value": "+"}, "weaknesses": {"value": "-"}, "questions": {"value": "?"},
                                  "rating": {"value": RATINGS[(i + j) % 6]}, "confidence": {"value": "4: sure"}}})  # fmt: skip
    decision = "Accept (poster)" if i % 2 else "Reject"
    notes.append({"id": f"{folder.name}d", "forum": folder.name, "invitations": [f"{inv}/Submission{i}/-/Decision"],
                  "content": {"decision": {"value": decision}}})  # fmt: skip
    (folder / "notes.json").write_text(json.dumps(notes))
    (folder / "paper.tex").write_text(
        "\\title{Forum %d}\n\\begin{abstract}A.\\end{abstract}\n\\section{Intro}\nText.\n" % i  # noqa: UP031
    )


def make_corpus(root: Path, n: int = 10) -> tuple[Path, Path]:
    arxiv, forums = root / "arxiv", root / "openreview"
    for i in range(n):
        write_paper(arxiv / f"2301.{i:05d}", i, f"202{2 + i % 3}-0{1 + i % 9}-15")
        write_forum(forums / f"forum{i:02d}", i)
    (arxiv / "broken").mkdir()
    (arxiv / "broken" / "notes.tex").write_text("no documentclass here")
    (forums / "withdrawn").mkdir()
    (forums / "withdrawn" / "notes.json").write_text(json.dumps([
        {"id": "withdrawn", "forum": "withdrawn", "invitations": ["ICLR.cc/2024/Conference/-/Submission"],
         "content": {"venueid": {"value": "ICLR.cc/2024/Conference/Withdrawn_Submission"}}}]))  # fmt: skip
    return arxiv, forums
