"""arXiv-style LaTeX source folders of accepted papers (Research-14K style)."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cycle.data.sample_corpus.files import write_json, write_text
from cycle.data.sample_corpus.knobs import accepted_knobs, quality
from cycle.data.sample_corpus.paper import PaperText, render_paper
from cycle.data.sample_corpus.people import AFFILIATIONS, draw_author
from cycle.data.sample_corpus.preamble import PACKAGES, SYNTHETIC_LINE, venue_preamble
from cycle.data.sample_corpus.references import render_bib
from cycle.data.sample_corpus.spec import PaperSpec, build_spec

N_ARXIV = 40
ACK_NAMES = (
    "the anonymous reviewers",
    "our colleagues at the lab",
    "the members of the reading group",
)


def acknowledgements(rng: random.Random, venue: str) -> str:
    body = (
        f"We thank {rng.choice(ACK_NAMES)} for helpful discussions and feedback. "
        f"This work was supported in part by grant {rng.randint(1000000, 9999999)} and by compute credits from {rng.choice(AFFILIATIONS)}."
    )
    style = rng.choice(
        (
            "section",
            "section_uk",
            "subsubsection",
            "ack" if venue.startswith("NeurIPS") else "section",
            "none",
        )
    )
    return {
        "section": f"\\section*{{Acknowledgments}}\n{body}\n",
        "section_uk": f"\\section*{{Acknowledgements}}\n{body}\n",
        "subsubsection": f"\\subsubsection*{{Acknowledgments}}\n{body}\n",
        "ack": f"\\begin{{ack}}\n{body}\n\\end{{ack}}\n",
        "none": "",
    }[style]


def _append_comment_after_percent(text: str, comment: str) -> str:
    """Put a real comment at the end of the first line holding a ``\\%`` literal."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "\\%" in line:
            lines[i] = f"{line} % {comment}"
            break
    return "\n".join(lines)


def _insert_after_heading(text: str, insert: str) -> str:
    head, _, rest = text.partition("\n")
    return f"{head}\n{insert}\n{rest}"


def decorate(
    rng: random.Random, spec: PaperSpec, parts: list[tuple[str, str]]
) -> tuple[list[tuple[str, str]], bool]:
    """Add the comments, dead blocks and ``\\%`` literals a real arXiv source carries."""
    out = []
    uses_comment_env = False
    for name, text in parts:
        if name == "experiments":
            text = _append_comment_after_percent(
                text,
                rng.choice(
                    (
                        "TODO: update with the final sweep",
                        "numbers from run 2023-05-11",
                        "double-check",
                    )
                ),
            )
            if rng.random() < 0.25:
                uses_comment_env = True
                text += (
                    "\n\\begin{comment}\nResults of the workshop version (single seed, smaller backbone); "
                    f"kept for reference. {spec.method_tex} was 2.3\\% worse on {spec.primary.name} back then.\n\\end{{comment}}\n"
                )
        if name == "method" and rng.random() < 0.35:
            text += (
                f"\n\\iffalse\n\\subsection{{An Alternative Formulation}}\nAn earlier draft described a variant of {spec.method_tex} "
                f"without the {spec.components[2]}. We found it unstable and removed it.\n\\fi\n"
            )
        if name in ("related", "experiments") and rng.random() < 0.3:
            text = _insert_after_heading(
                text,
                rng.choice(
                    (
                        "% TODO: add more baselines here",
                        "%% reviewer 2 asked for this",
                        "% keep this short",
                    )
                ),
            )
        out.append((name, text))
    return out, uses_comment_env


def write_arxiv_folder(
    folder: Path,
    rng: random.Random,
    spec: PaperSpec,
    text: PaperText,
    meta: dict[str, Any],
    broken: str | None,
) -> None:
    """One arXiv-style source folder; ``broken`` is None, "no_documentclass" or "bad_bib"."""
    folder.mkdir(parents=True)
    parts, comment_env = decorate(rng, spec, text.parts)
    layout = rng.choice(("sections", "numbered", "flat_include", "nested"))
    main_name = rng.choice(("main.tex", "main.tex", "paper.tex", "ms.tex", "arxiv.tex"))
    bib_name = rng.choice(("references", "refs", "bibliography", "main", "custom"))
    ext = rng.random() < 0.5  # write \input{...} with the .tex extension
    subdir = {"sections": "sections", "numbered": "sec", "flat_include": "", "nested": "content"}[
        layout
    ]
    inline = (
        {"related"}
        if layout == "flat_include"
        else ({"conclusion"} if rng.random() < 0.3 else set())
    )
    ack = acknowledgements(rng, meta["venue"])
    ack_in_conclusion = bool(ack) and "conclusion" not in inline and rng.random() < 0.3
    files: dict[str, str] = {}
    body_lines: list[str] = []
    for i, (name, latex) in enumerate(parts, 1):
        if name == "conclusion" and ack_in_conclusion:
            latex += "\n" + ack
        if name in inline:
            body_lines.append(latex)
            continue
        stem = f"{i}_{name}" if layout == "numbered" else name
        rel = f"{subdir}/{stem}" if subdir else stem
        if layout == "nested" and name == "experiments":
            start = latex.index("\\begin{table}")
            end = latex.index("\\end{table}", start) + len("\\end{table}")
            files[f"{subdir}/tables/main_results.tex"] = latex[start:end] + "\n"
            latex = latex[:start] + f"\\input{{{subdir}/tables/main_results}}" + latex[end:]
        header = f"% !TEX root = ../{main_name}\n" if subdir and rng.random() < 0.5 else ""
        files[f"{rel}.tex"] = header + latex
        if layout == "flat_include":
            body_lines.append(f"\\include{{{rel}}}")
        else:
            body_lines.append(f"\\input{{{rel}{'.tex' if ext else ''}}}")
    abstract = f"\\begin{{abstract}}\n{text.abstract}\n\\end{{abstract}}"
    if rng.random() < 0.25:
        rel = f"{subdir}/abstract" if subdir else "abstract"
        files[f"{rel}.tex"] = abstract + "\n"
        abstract = f"\\input{{{rel}}}"
    preamble = [venue_preamble(meta["venue"]), PACKAGES]
    if comment_env:
        preamble.append("\\usepackage{comment}")
    if spec.macro:
        preamble.append(f"\\newcommand{{\\ours}}{{\\textsc{{{spec.method}}}}}")
    authors = " \\And\n".join(f"{a.tex} \\\\ {aff}" for a, aff in meta["_authors"])
    dead_input = (
        [f"% \\input{{{subdir + '/' if subdir else ''}appendix_old}}"] if rng.random() < 0.3 else []
    )
    main = "\n".join(
        [
            SYNTHETIC_LINE,
            f"% Camera-ready version for {meta['venue']}. 100\\% of the numbers were re-run for this version.",
            *preamble,
            "",
            f"\\title{{{text.title}}}",
            f"\\author{{{authors}}}",
            "",
            "\\begin{document}",
            "\\maketitle",
            abstract,
            "",
            *body_lines,
            *dead_input,
            "",
            *([ack] if ack and not ack_in_conclusion else []),
            "\\bibliographystyle{plainnat}",
            f"\\bibliography{{{bib_name}}}",
            "",
            "\\end{document}",
            "",
        ]
    )
    if broken == "no_documentclass":
        # a truncated upload: the preamble (with \documentclass) is missing
        main = "\n".join(
            line
            for line in main.split("\n")
            if not line.startswith(("\\documentclass", "\\usepackage"))
        )
    files[main_name] = main
    for rel, content in files.items():
        if not content.startswith(SYNTHETIC_LINE):
            content = f"{SYNTHETIC_LINE}\n{content}"
        write_text(folder / rel, content)
    write_text(
        folder / f"{bib_name}.bib",
        f"% SYNTHETIC SAMPLE bibliography for {meta['arxiv']}\n"
        + render_bib(spec.refs, rng.random() < 0.35, bad_entry=broken == "bad_bib"),
    )
    write_json(folder / "metadata.json", {k: v for k, v in meta.items() if not k.startswith("_")})


def arxiv_dates(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (arxiv id, ISO date) pairs spread over 2022-2024, in chronological order."""
    days = sorted(rng.sample(range(3 * 365), k=n))
    out, seqs = [], set()
    for day in days:
        year = 2022 + min(2, day // 365)
        doy = day - 365 * (year - 2022)
        month = 1
        lengths = (31, 29 if year == 2024 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
        while doy >= lengths[month - 1]:
            doy -= lengths[month - 1]
            month += 1
        seq = rng.randint(1, 19999)
        while (year, month, seq) in seqs:
            seq = rng.randint(1, 19999)
        seqs.add((year, month, seq))
        out.append((f"{year % 100:02d}{month:02d}.{seq:05d}", f"{year}-{month:02d}-{doy + 1:02d}"))
    return out


def generate_arxiv(out: Path, seed: int, taken: set[str]) -> dict[str, Any]:
    broken_kinds = {N_ARXIV // 3: "no_documentclass", (2 * N_ARXIV) // 3: "bad_bib"}
    n_total = N_ARXIV + len(broken_kinds)
    ids = arxiv_dates(random.Random(f"{seed}-arxiv-dates"), n_total)
    record: dict[str, Any] = {}
    for i, (arxiv_id, date) in enumerate(ids):
        rng = random.Random(f"{seed}-arxiv-{i}")
        knobs = accepted_knobs(rng)
        spec = build_spec(rng, arxiv_id, knobs, taken, max_year=int(date[:4]))
        text = render_paper(rng, spec, anonymous=False)
        broken = broken_kinds.get(i)
        if broken == "bad_bib":
            # the malformed entry is cited too, so the parser sees a reference it cannot resolve
            name, intro = text.parts[0]
            text.parts[0] = (name, intro.replace(".\n\n", "~\\cite{broken2021entry}.\n\n", 1))
        q = quality(knobs)
        year = int(date[:4])
        venue = f"{rng.choice(('ICLR', 'NeurIPS', 'ICML'))} {year}"
        tier = rng.choices(
            ("Accept (poster)", "Accept (spotlight)", "Accept (oral)"),
            weights=(8, 2 + (q > 7.5) * 3, 1 + (q > 8) * 2),
        )[0]
        authors = [(draw_author(rng), rng.choice(AFFILIATIONS)) for _ in range(rng.randint(2, 6))]
        meta = {
            "arxiv": arxiv_id,
            "title": text.title,
            "authors": [a.name for a, _ in authors],
            "date": date,
            "venue": venue,
            "decision": tier,
            "synthetic": True,
            "_authors": authors,
        }
        write_arxiv_folder(out / "arxiv" / arxiv_id, rng, spec, text, meta, broken)
        record[arxiv_id] = {
            "area": spec.area.key,
            "method": spec.method,
            "knobs": asdict(knobs),
            "quality": round(q, 3),
            "broken": broken,
        }
    return record
