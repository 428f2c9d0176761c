"""The sample corpus's README.md, with counts and deliberate defects filled in."""

from __future__ import annotations

from collections import Counter
from typing import Any


def readme(seed: int, arxiv: dict[str, Any], forums: dict[str, Any]) -> str:
    good = [a for a in arxiv.values() if not a["broken"]]
    broken = {v["broken"]: k for k, v in arxiv.items() if v["broken"]}
    reviewed = {k: v for k, v in forums.items() if v["status"] == "reviewed"}
    decisions = Counter(v["decision"] for v in reviewed.values())
    n_reviews = [len(v["ratings"]) for v in reviewed.values()]
    special = {v["status"]: k for k, v in forums.items() if v["status"] != "reviewed"}
    integer = sorted(k for k, v in forums.items() if v["integer_scores"])
    malformed = next(k for k, v in forums.items() if v["malformed_rating"])
    areas = sorted({v["area"] for v in [*arxiv.values(), *forums.values()]})
    return f"""# Sample corpus (SYNTHETIC)

**Everything in this folder is synthetic.** No file here comes from a real paper, author, review
or venue: titles, methods, numbers, references, reviews and decisions are assembled from templates
by a seeded generator. The data exists so that every stage of `cycle` (LaTeX/BibTeX/OpenReview
parsing, Research-14K and Review-5K building, reviewer and researcher training) runs offline.
Each `.tex` file starts with a `% SYNTHETIC SAMPLE` line, each `metadata.json` and each
OpenReview submission note carries `"synthetic": true`.

Regenerate (standard library only, byte-identical on every run; do not edit by hand):

```
python -m cycle.data.sample_corpus          # seed {seed}, writes packages/data/src/cycle/data/sample/
```

Read it from code with `importlib.resources.files("cycle.data") / "sample"`.

## Layout

- `arxiv/<arxiv_id>/` ({len(arxiv)} folders: {len(good)} good + {len(broken)} deliberately broken):
  an arXiv-style LaTeX source folder of an accepted paper (Research-14K style). One main file
  (`main.tex`, `paper.tex`, `ms.tex` or `arxiv.tex`) holds `\\documentclass` and
  `\\begin{{document}}`; sections are pulled in with `\\input{{...}}` (with or without `.tex`) or
  `\\include{{...}}`, sometimes nested (`content/tables/main_results.tex`). Sources carry `%`
  comments next to `\\%` literals, `\\iffalse ... \\fi` blocks, `comment` environments, a
  commented-out `\\input` of a file that does not exist, and acknowledgements
  (`\\section*{{Acknowledgments}}`, `\\section*{{Acknowledgements}}`, `\\subsubsection*{{...}}` or
  `\\begin{{ack}}`). The `.bib` file (`references.bib`, `refs.bib`, ...) has 8-45 entries, most
  with an `abstract` field; some files use `@string` venue macros and some names LaTeX accents.
  `metadata.json`: `arxiv`, `title`, `authors`, `date` (2022-2024, for a chronological split),
  `venue`, `decision` (all accepted), `synthetic`.
- `openreview/<forum_id>/notes.json` ({len(forums)} forums): an OpenReview API-v2 dump of one
  ICLR 2024 forum (submission, {min(n_reviews)}-{max(n_reviews)} official reviews, meta review, decision,
  sometimes official comments), sorted by `cdate`; `paper.tex` next to it is the submission's
  full text as one LaTeX document.
- `knobs.json`: the generator's ground truth per paper (research area, method name, latent
  knobs, quality, status, decision, ratings). It is not part of any real dataset format; tests
  use it to check that the text and the reviews follow the knobs.

Research areas: {", ".join(areas)}.

## What drives quality

Each paper draws latent knobs, and the text shows every one of them:

| knob | range | visible as |
|---|---|---|
| `n_datasets` | 1-5 | columns of the main results table, the Datasets paragraph |
| `n_baselines` | 1-7 | rows of the main table, the Baselines paragraph |
| `n_extra_tables` | 0-2 | a computational-cost table and a hyperparameter-sensitivity table |
| `ablation` | yes/no | an `Ablation Study` subsection (or `Ablation Studies` section) with its table |
| `n_citations` | 8-45 | distinct `\\cite` keys (== `.bib` entries for arXiv folders) |
| `n_seeds`, `error_bars` | 1/3/5, yes/no | "repeated with 5 random seeds", `$\\pm$` in the tables, table captions |
| `clarity` | 1-4 | contributions list and defined notation vs undefined symbols and vague filler sentences |
| `novelty` | 1-4 | "a new approach based on ..." vs "extends <baseline> by ..."; how often the method wins |
| `limitations` | yes/no | a `Limitations` paragraph or section |
| `code` | yes/no | a code-availability sentence |

A paper's quality is a weighted sum of the knobs mapped to the rating scale. Each reviewer has an
emphasis (rigor, scope, novelty or clarity) and a personal bias; their rating is quality plus
emphasis-weighted knob scores plus noise, snapped to the ICLR 2024 scale {{1, 3, 5, 6, 8, 10}},
with the ratings of one forum spread over 1-3 points. Soundness follows the ablation, seeds,
error bars and baselines; presentation follows clarity; contribution follows novelty and
datasets. Strengths and weaknesses name the knob-driven reasons ("no ablation study", "only one
dataset", "results over 5 seeds with standard deviations", ...), questions follow the
weaknesses, and the meta review summarises the most frequent reasons. The decision follows the
mean rating plus a little noise: {decisions.get("Accept (oral)", 0)} oral, {decisions.get("Accept (spotlight)", 0)} spotlight,
{decisions.get("Accept (poster)", 0)} poster, {decisions.get("Reject", 0)} reject. arXiv papers are drawn with quality above the acceptance
threshold (Research-14K uses accepted papers).

## Deliberate defects (for per-record error reporting)

- `arxiv/{broken["no_documentclass"]}`: no file has `\\documentclass` (a truncated upload).
- `arxiv/{broken["bad_bib"]}`: the `.bib` ends with a malformed entry (`broken2021entry`, unbalanced
  braces) after good ones; the paper cites it and must still parse, with the entry reported.
- `openreview/{special["withdrawn"]}`: withdrawn submission (reviews, no decision) - excluded.
- `openreview/{special["desk_rejected"]}`: desk-rejected submission (no reviews) - excluded.
- `openreview/{malformed}`: one review's rating is `"N/A"`.
- `openreview/{", ".join(integer)}`: scores are plain integers (the later-year style) instead of
  `"6: marginally above the acceptance threshold"` strings.
"""
