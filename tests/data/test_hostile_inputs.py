"""A hostile and broken raw corpus, generated here: every case builds to completion, each bad
record lands in ``rejected.jsonl`` with its reason, and nothing outside the source folders (the
canaries) reaches any output file."""

from __future__ import annotations

import json
import os
import time
import urllib.error
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.data.arxiv import check_metadata, load_arxiv_paper
from cycle.data.deadline import DeadlineWorker, RecordTimeout
from cycle.data.openreview import load_forum
from cycle.data.schemas import FileLimits
from tests.factories.sources import write_forum, write_paper

CANARY = "CANARY-7f3a9c-OUTSIDE-THE-SOURCE-ROOT"
LIMITS = FileLimits(max_file_mb=0.25, max_record_mb=4.0, parse_timeout_s=2.0)
# The slow record: six \input files of 0.23 MB of nested braces (each under the file limit; all
# read twice, once to find the main file, within the record's read budget). Parsing is linear,
# ~1.2 s per 0.1 MB on a 2-core dev machine: ~17 s here, > 5 s on a machine 3x faster, always
# past the 2 s deadline.
SLOW_PART = ("\\section{S}\n" + "{{{x}}}" * 40 + "\n") * 800
SLOW_PARTS = 6


def _outside(root: Path) -> Path:
    out = root / "outside"
    out.mkdir(parents=True)
    (out / "secret.tex").write_text(
        f"\\documentclass{{article}}\\title{{{CANARY}}}\\begin{{document}}"
        f"\\begin{{abstract}}{CANARY}\\end{{abstract}}\\section{{A}}{CANARY}\\section{{B}}{CANARY}"
        "\\end{document}\n"
    )
    (out / "secret.bib").write_text(f"@article{{k1, title={{{CANARY}}}, year=2020}}\n")
    (out / "metadata.json").write_text(json.dumps({"title": CANARY, "authors": [CANARY]}))
    write_forum(out / "forumX", 99)
    notes = json.loads((out / "forumX" / "notes.json").read_text())
    notes[0]["content"]["title"] = {"value": CANARY}
    (out / "forumX" / "notes.json").write_text(json.dumps(notes))
    (out / "forumX" / "paper.tex").write_text(f"\\title{{{CANARY}}}\\section{{I}}{CANARY}\n")
    return out


def _paper(arxiv: Path, name: str, i: int) -> Path:
    folder = arxiv / name
    write_paper(folder, i, f"2023-0{1 + i % 9}-15")
    return folder


def _set_main(folder: Path, old: str, new: str) -> None:
    main = folder / "main.tex"
    main.write_text(main.read_text().replace(old, new))


def _meta(folder: Path, **fields: object) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, **fields}))


def make_hostile_corpus(root: Path) -> tuple[Path, Path, dict[str, str]]:
    """(arxiv dir, openreview dir, {source folder: expected reason}) for the dropped records."""
    out = _outside(root)
    arxiv, forums = root / "arxiv", root / "openreview"
    for i in range(6):
        _paper(arxiv, f"2301.{i:05d}", i)
        write_forum(forums / f"forum{i:02d}", i)
    with open(arxiv / "2301.00000" / "refs.bib", "a") as bib:  # a reference to look up
        bib.write("@article{k3, title={Three}, year=2022, doi={10.1000/three}}\n")
    _set_main(arxiv / "2301.00000", "\\cite{k1}", "\\cite{k1,k3}")
    expect: dict[str, str] = {}

    f = _paper(arxiv, "a01_main_link", 11)
    (f / "main.tex").unlink()
    (f / "main.tex").symlink_to(out / "secret.tex")
    expect["a01_main_link"] = "resolves outside"

    f = _paper(arxiv, "a02_bib_link", 12)
    (f / "refs.bib").unlink()
    (f / "refs.bib").symlink_to(out / "secret.bib")

    f = _paper(arxiv, "a03_bib_abs", 13)
    _set_main(f, "\\bibliography{refs}", f"\\bibliography{{{out / 'secret'}}}")
    f = _paper(arxiv, "a04_bib_dotdot", 14)
    _set_main(f, "\\bibliography{refs}", "\\bibliography{../../outside/secret}")
    f = _paper(arxiv, "a05_input_out", 15)
    _set_main(
        f, "\\input{sec/intro}", f"\\input{{{out / 'secret'}}}\\input{{../../outside/secret}}"
    )

    f = _paper(arxiv, "a06_meta_link", 16)
    (f / "metadata.json").unlink()
    (f / "metadata.json").symlink_to(out / "metadata.json")
    expect["a06_meta_link"] = "resolves outside"

    f = _paper(arxiv, "a07_fifo_input", 17)  # a FIFO beside the main file: skipped, not read
    (f / "sec" / "intro.tex").unlink()
    os.mkfifo(f / "sec" / "intro.tex")
    f = arxiv / "a08_fifo_only"
    f.mkdir()
    os.mkfifo(f / "main.tex")
    expect["a08_fifo_only"] = "not a regular file"

    f = _paper(arxiv, "a09_dev_zero", 19)
    (f / "main.tex").unlink()
    (f / "main.tex").symlink_to("/dev/zero")
    expect["a09_dev_zero"] = "resolves outside"

    _meta(_paper(arxiv, "a10_authors_int", 20), authors=5)
    expect["a10_authors_int"] = "authors must be a list"
    _meta(_paper(arxiv, "a11_year_huge", 21), year=10**25)
    expect["a11_year_huge"] = "year must be an integer"

    f = _paper(arxiv, "a12_huge", 22)
    _set_main(f, "\\end{document}", "x" * 300_000 + "\\end{document}")
    expect["a12_huge"] = "file limit"
    f = _paper(arxiv, "a13_slow", 23)
    for j in range(SLOW_PARTS):
        (f / f"slow{j}.tex").write_text(SLOW_PART)
    inputs = "".join(f"\\input{{slow{j}}}\n" for j in range(SLOW_PARTS))
    _set_main(f, "\\section{Conclusion}", inputs + "\\section{Conclusion}")
    expect["a13_slow"] = "parse stopped after 2 s"

    _meta(_paper(arxiv, "a14_dup_id", 2), arxiv="2301.00002")  # same arXiv id as 2301.00002
    expect["a14_dup_id"] = "duplicate of 2301.00002 (same id)"
    f = _paper(arxiv, "a15_dup_title", 24)
    _set_main(f, "\\title{Paper 24}", "\\title{PAPER   3!}")  # "Paper 3", normalised
    _meta(f, arxiv="2301.a15")
    expect["a15_dup_title"] = "duplicate of 2301.00003 (same normalised title)"
    (arxiv / "a16_dir_link").symlink_to(out, target_is_directory=True)
    expect["a16_dir_link"] = "outside the source folder"

    f = forums / "o01_paper_link"
    write_forum(f, 31)
    (f / "paper.tex").unlink()
    (f / "paper.tex").symlink_to(out / "forumX" / "paper.tex")
    expect["o01_paper_link"] = "resolves outside"
    f = forums / "o02_notes_link"
    write_forum(f, 32)
    (f / "notes.json").unlink()
    (f / "notes.json").symlink_to(out / "forumX" / "notes.json")
    expect["o02_notes_link"] = "resolves outside"
    f = forums / "o03_fifo_paper"
    write_forum(f, 33)
    (f / "paper.tex").unlink()
    os.mkfifo(f / "paper.tex")
    expect["o03_fifo_paper"] = "not a regular file"
    (forums / "o04_forum_link").symlink_to(out / "forumX", target_is_directory=True)
    expect["o04_forum_link"] = "outside the source folder"
    write_forum(forums / "o05_dup_id", 35)  # same forum id as forum01, in another folder
    notes = json.loads((forums / "forum01" / "notes.json").read_text())
    (forums / "o05_dup_id" / "notes.json").write_text(json.dumps(notes))
    expect["o05_dup_id"] = "duplicate of forum01 (same id)"
    write_forum(forums / "o06_dup_title", 36)
    paper = forums / "o06_dup_title" / "paper.tex"
    paper.write_text(paper.read_text().replace("Forum 36", "forum 2"))
    expect["o06_dup_title"] = "duplicate of forum02 (same normalised title)"
    (forums / "o07_not_notes").mkdir()
    (forums / "o07_not_notes" / "notes.json").write_text("[1, 2]")
    expect["o07_not_notes"] = "not a JSON list of notes"
    return arxiv, forums, expect


def _outputs(run_dir: Path) -> list[Path]:
    return [p for p in run_dir.rglob("*") if p.is_file()]


@pytest.mark.timeout(180)
def test_hostile_corpus_builds_rejects_each_bad_record_and_leaks_nothing(tmp_path, monkeypatch):
    arxiv, forums, expect = make_hostile_corpus(tmp_path / "corpus")

    def offline(*args: object) -> None:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr("cycle.data.semantic_scholar.urllib_post", offline)
    run_dir = tmp_path / "run"
    overrides = [
        f"paths.root_dir={tmp_path}",
        f"data.arxiv_dir={arxiv}",
        f"data.openreview_dir={forums}",
        "token_stats=false",
        "data.semantic_scholar.enabled=true",
        "data.semantic_scholar.min_interval_s=0",
        f"data.limits.max_file_mb={LIMITS.max_file_mb}",
        f"data.limits.max_record_mb={LIMITS.max_record_mb}",
        f"data.limits.parse_timeout_s={LIMITS.parse_timeout_s}",
    ]
    start = time.monotonic()
    result = run_stage("build_data", overrides, run_dir=run_dir)
    assert time.monotonic() - start < 150

    rejected = read_jsonl(run_dir / "rejected.jsonl")
    for folder, fragment in expect.items():
        assert any(
            r["dropped"] and folder in Path(r["source"]).parts and fragment in r["reason"]
            for r in rejected
        ), (folder, [r["reason"] for r in rejected if folder in r["source"]])
    reasons = " | ".join(r["reason"] for r in rejected)
    assert "\\bibliography{" in reasons and "not read" in reasons  # a03/a04 kept, bib refused
    assert "unreadable .bib" in reasons  # a02: the symlinked .bib
    # good records are all there: 6 arXiv papers + a02..a05, a07 (kept, bib/inputs refused)
    assert result["research14k/papers"] == 6 + 5
    assert result["review5k/papers"] == 6
    assert result["research14k/duplicates"] == 2 and result["review5k/duplicates"] == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["research14k"]["semantic_scholar"]["failed_lookups"] > 0
    assert "URLError" in summary["research14k"]["semantic_scholar"]["error"]

    for path in _outputs(run_dir):
        assert CANARY.encode() not in path.read_bytes(), path
        if path.suffix == ".parquet":
            assert CANARY not in json.dumps(pq.read_table(path).to_pylist(), default=str), path
    assert all(oct(p.stat().st_mode & 0o777) != "0o600" for p in _outputs(run_dir))


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("a01_main_link", "resolves outside"),
        ("a08_fifo_only", "not a regular file"),
        ("a09_dev_zero", "resolves outside"),
        ("a12_huge", "file limit"),
        ("a13_slow", "parse stopped after 2 s"),
    ],
)
def test_each_hostile_record_is_rejected_within_its_deadline(tmp_path, case, fragment):
    arxiv, _, _ = make_hostile_corpus(tmp_path)
    start = time.monotonic()
    with DeadlineWorker(LIMITS.parse_timeout_s) as worker:
        try:
            paper, problems = worker.call(
                load_arxiv_paper, arxiv / case, True, False, LIMITS, arxiv
            )
        except RecordTimeout as err:
            paper, problems = None, [str(err)]
    assert paper is None and fragment in str(problems)
    assert time.monotonic() - start < LIMITS.parse_timeout_s + 10


def test_forum_folder_linked_outside_is_refused(tmp_path):
    _, forums, _ = make_hostile_corpus(tmp_path)
    rp, problems = load_forum(forums / "o04_forum_link", 1, LIMITS, forums)
    assert rp is None and "outside the source folder" in problems[0].reason


def test_metadata_is_checked_field_by_field():
    assert check_metadata({"year": "2024", "authors": ["A", {"name": "B"}]})["year"] == 2024
    for bad, field in [
        ({"year": True}, "year"),
        ({"year": 1066}, "year"),
        ({"authors": "A, B"}, "authors"),
        ({"authors": [{"id": 1}]}, "authors"),
        ({"date": "yesterday"}, "date"),
        ({"title": ["T"]}, "title"),
        ([], "JSON object"),
    ]:
        with pytest.raises(ValueError, match=field):
            check_metadata(bad)
