"""Hostile records, round two (generated here): undecodable names, bad ids and dates, work
outside the parse deadline, released rows of the wrong shape, dedup gaps, hard links, a torn
reject log, unsafe API ids, and a parse worker that must not outlive its build."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import load_from_disk

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.data.deadline import DeadlineWorker
from cycle.data.dedupe import Deduper, dedup_title_key
from cycle.data.ids import arxiv_base_id, check_date, check_record_id, is_safe_path_part
from cycle.data.openreview import fetch_forums
from cycle.data.outline import DeadlineOutline, HeuristicOutline, strip_floats
from cycle.data.records import Paper
from cycle.data.research14k import _admit
from cycle.data.source_files import SourceRoot, UnsafeFile
from tests.factories.openreview import INV, FakeClient, FakeNote
from tests.factories.released import released_row
from tests.factories.sources import write_forum, write_paper

NESTED_ENVS = "\\begin{itemize}\n" * 600  # >= 500 nested, never closed
# ~1.8 s of parsing per copy on a 2-core dev machine: tests past a 1 s deadline use >= 3 copies,
# so a machine 3x faster is still over it
DENSE = "$a_{b^{c}}$ {\\em x} \\cite{k} \\ref{t} " * 6000


def _good_corpus(root: Path, n: int = 3) -> tuple[Path, Path]:
    arxiv, forums = root / "arxiv", root / "openreview"
    for i in range(n):
        write_paper(arxiv / f"2301.{i:05d}", i, f"2023-0{1 + i}-15")
        write_forum(forums / f"forum{i:02d}", i)
    return arxiv, forums


def _meta(folder: Path, **fields: object) -> None:
    meta = json.loads((folder / "metadata.json").read_text())
    (folder / "metadata.json").write_text(json.dumps({**meta, **fields}))


def _build(tmp_path: Path, run_dir: Path, *extra: str, timeout_s: float = 20) -> dict:
    return run_stage(
        "build_data",
        [
            f"paths.root_dir={tmp_path}",
            "token_stats=false",
            f"data.limits.parse_timeout_s={timeout_s}",
            *extra,
        ],
        run_dir=run_dir,
    )


def _reasons(run_dir: Path) -> dict[str, str]:
    return {r["record"]: r["reason"] for r in read_jsonl(run_dir / "rejected.jsonl")}


@pytest.mark.timeout(180)
def test_bad_names_ids_dates_and_deep_nesting_reject_their_record_only(tmp_path):
    arxiv, forums = _good_corpus(tmp_path / "corpus")
    latin1 = os.fsdecode(b"2301.caf\xe9")  # a Latin-1 folder name: not UTF-8
    os.mkdir(os.fsencode(arxiv) + b"/2301.caf\xe9")
    write_paper(arxiv / "tmp", 7, "2023-05-01")
    for name in os.listdir(arxiv / "tmp"):
        os.rename(arxiv / "tmp" / name, Path(arxiv, latin1, name))
    (arxiv / "tmp").rmdir()
    _meta(Path(arxiv, latin1), arxiv=None)  # the id comes from the folder name
    write_paper(arxiv / "b_surrogate", 8, "2023-05-02")
    meta = (arxiv / "b_surrogate" / "metadata.json").read_text()
    (arxiv / "b_surrogate" / "metadata.json").write_text(
        meta.replace('"b_surrogate"', '"2401.\\ud800"')
    )
    cases = {"c_long": "x" * 305, "d_nul": "2401.0\u00001", "e_dots": "../../etc"}
    for i, (name, bad_id) in enumerate(cases.items()):
        write_paper(arxiv / name, 10 + i, "2023-05-03")
        _meta(arxiv / name, arxiv=bad_id)
    for i, (name, date) in enumerate(
        {"f_future": "2099-12-31", "g_impossible": "9999-99-99"}.items()
    ):
        write_paper(arxiv / name, 20 + i, date)
    write_paper(arxiv / "h_nested", 30, "2023-05-04")
    main = arxiv / "h_nested" / "main.tex"
    main.write_text(main.read_text().replace("We propose X", NESTED_ENVS + "We propose X"))
    write_forum(forums / "forum_bad_note", 5)
    notes = json.loads((forums / "forum_bad_note" / "notes.json").read_text())
    notes[1]["id"] = "\ud800"  # a review note id that cannot be encoded as UTF-8, logged
    notes[1]["content"]["rating"] = {"value": "N/A"}  # with the review it rejects
    (forums / "forum_bad_note" / "notes.json").write_text(json.dumps(notes))
    write_forum(forums / "forum_nul", 6)
    notes = json.loads((forums / "forum_nul" / "notes.json").read_text())
    for note in notes:
        note["forum"] = "forum\u0000nul"
    (forums / "forum_nul" / "notes.json").write_text(json.dumps(notes))

    run_dir = tmp_path / "run"
    result = _build(tmp_path, run_dir, f"data.arxiv_dir={arxiv}", f"data.openreview_dir={forums}")
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "complete"
    reasons = _reasons(run_dir)
    assert "holds '\\udce9'" in reasons[latin1]  # the record read back is the same string
    assert "holds '\\ud800'" in reasons["b_surrogate"]
    assert "305 characters" in reasons["c_long"]
    assert "holds '\\x00'" in reasons["d_nul"]
    assert "starts with '.'" in reasons["e_dots"]
    assert "2099-12-31 is outside" in reasons["f_future"]
    assert "not a calendar date" in reasons["g_impossible"]
    assert "\ud800" in reasons  # the review note: logged losslessly, the forum kept
    assert "forum id 'forum\\x00nul'" in reasons["forum\u0000nul"]
    assert "RecursionError" in reasons["h_nested"]  # that record, not the build
    assert result["research14k/papers"] == 3
    assert result["review5k/papers"] == 4
    rows = [
        r for s in ("train", "test") for r in read_jsonl(run_dir / "review5k/papers" / f"{s}.jsonl")
    ]
    assert {r["paper"]["source"] for r in rows} == {f"forum{i:02d}/paper.tex" for i in range(3)} | {
        "forum_bad_note/paper.tex"
    }  # relative to the source folder


def test_id_and_date_rules():
    for good in ("2401.12345v2", "cs.LG/0112017", "aBc_-12XyZ", "ICLR_2017_104"):
        assert check_record_id(good) == good
    for bad, why in [
        ("x" * 129, "over 128"),
        ("a\u0000b", "\\x00"),
        ("a\ud800", "\\ud800"),
        ("a\nb", "\\n"),
        (".hidden", "starting with"),
        ("", "empty"),
        (7, "string"),
    ]:
        with pytest.raises(ValueError, match=re.escape(why)):
            check_record_id(bad)
    assert not is_safe_path_part("a/b") and not is_safe_path_part("..") and is_safe_path_part("Ab1")
    assert (
        arxiv_base_id("2401.12345v3") == "2401.12345"
        and arxiv_base_id("cs/0112017v1") == "cs/0112017"
    )
    assert arxiv_base_id("aBcv2") == "aBcv2"
    for good in ("2023", "2023-02", "2024-02-29"):
        assert check_date(good) == good
    for bad in ("2099-12-31", "9999-99-99", "2023-02-30", "2023-13", "1899-12-31", "yesterday"):
        with pytest.raises(ValueError):
            check_date(bad)


def _old_strip(latex: str) -> str:
    return re.sub(
        r"\\begin\{(figure|table|algorithm)\*?\}.*?\\end\{\1\*?\}", "", latex, flags=re.DOTALL
    )


def test_float_stripping_matches_the_regex_and_is_linear():
    rng = random.Random(0)
    pieces = ["\\begin{figure}", "\\end{figure}", "\\begin{table*}", "\\end{table}",
              "\\end{table*}", "\\begin{algorithm}", "\\end{algorithm}", "x", "\n\n", "y z"]  # fmt: skip
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert strip_floats(text) == _old_strip(text), text
    # 24,000 unclosed floats in verbatim (411 KB): the regex took minutes; one pass is instant
    intro = (
        "Motivation.\n\n\\begin{verbatim}\n" + "\\begin{figure}\n" * 24_000 + "\\end{verbatim}\n"
    )
    paper = Paper(
        "2401.00001",
        title="T",
        abstract="We propose.",
        sections=[
            ("Introduction", intro),
            ("Method", "M."),
            ("Experiments", "E."),
            ("Results", "R."),
        ],
        date="2023-01-01",
    )
    with DeadlineWorker(5.0) as worker:
        ((outline, problems),) = DeadlineOutline(HeuristicOutline(), worker).extract([paper])
    assert outline is not None and outline.motivation.startswith("Motivation"), problems


@pytest.mark.timeout(60)
def test_outline_runs_under_the_parse_deadline():
    table = f"\\begin{{table}}\\begin{{tabular}}{{l}}{DENSE * 3}\\end{{tabular}}\\end{{table}}"
    slow = Paper(
        "slow", sections=[("Introduction", "I."), ("Method", "M."), ("Experiments", table)]
    )
    fast = Paper("fast", sections=[("Introduction", "I."), ("Method", "M."), ("Experiments", "E.")])
    with DeadlineWorker(1.0) as worker:
        results = DeadlineOutline(HeuristicOutline(), worker).extract([slow, fast])
    assert results[0][0] is None and "parse stopped after 1 s" in results[0][1][0]
    assert results[1][0] is not None  # the next paper goes on in a fresh worker


def test_dedup_is_unicode_aware_and_version_free():
    assert dedup_title_key("α-Net") != dedup_title_key("β-Net")
    assert dedup_title_key("$\\alpha$-Net") == dedup_title_key("α-Net")
    assert dedup_title_key("\\emph{Deep} Nets") == dedup_title_key("DEEP   nets")
    assert dedup_title_key("深度学习的新方法") and dedup_title_key("Ｄｅｅｐ") == "deep"
    seen = Deduper()
    seen.add("2401.00001v1", "深度学习的新方法")
    assert "other version" in seen.duplicate_of("2401.00001v2", "Other")
    assert "same normalised title" in seen.duplicate_of("x2", "深度学习的新方法")
    # an accepted resubmission after its rejected twin is kept; the twin is not remembered
    sections = [("Introduction", "I."), ("Method", "M."), ("Experiments", "E."), ("Results", "R.")]
    rejected = Paper(
        "r1", title="Same Paper", sections=sections, decision="Reject", date="2023-01-01"
    )
    accepted = Paper(
        "a1", title="Same paper", sections=sections, decision="Accept", date="2023-02-01"
    )
    seen = Deduper()
    assert _admit(rejected, True, seen)[1] is False
    assert _admit(accepted, True, seen) == ([], True)
    assert "duplicate of a1" in _admit(accepted, True, seen)[0][0].reason


def test_hard_linked_file_is_refused(tmp_path):
    outside = tmp_path / "secret.tex"
    outside.write_text("secret")
    (tmp_path / "rec").mkdir()
    os.link(outside, tmp_path / "rec" / "main.tex")
    with pytest.raises(UnsafeFile, match="hard-linked"):
        SourceRoot(tmp_path / "rec").read_text("main.tex")


def test_fetch_forums_never_joins_an_unsafe_id(tmp_path):
    class Client(FakeClient):
        def get_all_notes(self, **kwargs):
            return [FakeNote(f) for f in ("../../evil", "/abs", "..", "ok1")]

    out = tmp_path / "out"
    assert fetch_forums(INV, out, client=Client()) == {"fetched": 1, "cached": 0, "refused": 3}
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("notes.json")) == [
        "out/ok1/notes.json"
    ]


@pytest.mark.timeout(120)
def test_torn_line_in_a_complete_runs_reject_log_is_repaired(tmp_path):
    arxiv, forums = _good_corpus(tmp_path / "corpus", n=2)
    (arxiv / "broken").mkdir()
    (arxiv / "broken" / "main.tex").write_text("no sections")
    args = (f"data.arxiv_dir={arxiv}", f"data.openreview_dir={forums}", "resume=true")
    run_dir = tmp_path / "run"
    _build(tmp_path, run_dir, *args)
    log = run_dir / "rejected.jsonl"
    rows = read_jsonl(log)
    with open(log, "a") as f:
        f.write('{"dataset": "research14k", "ki')  # a kill mid-append
    _build(tmp_path, run_dir, *args)
    assert read_jsonl(log) == rows and log.read_text().endswith("\n")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    before = log.stat().st_mtime_ns
    _build(tmp_path, run_dir, *args)  # now intact: skipped, the log untouched
    assert log.stat().st_mtime_ns == before


def _review_row(i: int, **fields: object) -> dict:
    row = {
        "id": f"R{i}",
        "title": f"Released {i}",
        "paper_context": f"\\title{{R{i}}}\\begin{{abstract}}A.\\end{{abstract}}\\section{{Intro}}T{i}.",
        "decision": "Accept" if i % 2 else "Reject",
        "review": [{"id": f"R{i}r", "content": {"summary": "s", "rating": "6: ok"}}],
    }
    return {**row, **fields}


@pytest.mark.timeout(120)
def test_released_review_rows_are_isolated_and_gold_needs_no_text(tmp_path):
    rows = [_review_row(i) for i in range(3)]
    rows.append(_review_row(3, review=[{"id": "x", "content": "a string, not an object"}]))
    rows.append(_review_row(4, paper_context="\\section{A}" + "{" * 100_000))
    rows.append(_review_row(5, paper_context="\\section{A}" + NESTED_ENVS))
    rows.append(_review_row(6, id="\ud800"))
    rows.append(_review_row(7, id="R7", review="not a list"))
    rows.append(_review_row(8, paper_context="\\section{A}" + DENSE * 6))  # over the deadline
    path = tmp_path / "review5k.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "torn"\n')
    run_dir = tmp_path / "run"
    args = ("data=review5k", f"data.review5k_id={path}")
    result = _build(tmp_path, run_dir, *args, timeout_s=1)
    reasons = _reasons(run_dir)
    assert "content is a str" in reasons["R3#0"] and "no usable reviews" in reasons["R3"]
    assert "holds '\\ud800'" in reasons["\ud800"]
    assert "line 10 is not JSON" in reasons["?"]
    assert "review must be a list" in reasons["R7"]
    assert "parse stopped after 1 s" in reasons["R8"]
    assert "RecursionError" in reasons["R4"] and "RecursionError" in reasons["R5"]
    assert result["review5k/papers"] == 3
    stored = [
        r["paper"]["source"]
        for s in ("train", "test")
        for r in read_jsonl(run_dir / "review5k/papers" / f"{s}.jsonl")
    ]
    assert set(stored) == {"review5k.jsonl:train"}  # not the builder's absolute path

    from cycle.reviewer.predictions import load_gold

    gold_file = tmp_path / "gold.jsonl"
    gold_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    gold = load_gold(str(gold_file), "test")
    assert gold.ids == ["R0", "R1", "R2", "R4", "R5", "R8"]  # the deep papers need no parse here
    assert {g["id"] for g in gold.rejected} >= {"R3", "\ud800"}


@pytest.mark.timeout(120)
def test_released_messages_as_json_string_are_decoded_or_rejected(tmp_path):
    good, bad = released_row(), released_row()
    good["messages"] = json.dumps(good["messages"])
    bad["paperId"], bad["messages"] = "bad1", "{not json"
    path = tmp_path / "research14k.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    run_dir = tmp_path / "run"
    result = _build(tmp_path, run_dir, "data=research14k", f"data.research14k_id={path}")
    assert result["research14k/train"] == 1
    rejected = {r["record"]: r for r in read_jsonl(run_dir / "rejected.jsonl")}
    assert rejected["bad1"]["dropped"] and "not JSON" in rejected["bad1"]["reason"]
    assert not rejected[good["paperId"]]["dropped"]
    ds = load_from_disk(str(run_dir / "research14k/papers/hf/train"))
    assert isinstance(ds[0]["messages"], list) and ds[0]["messages"][0]["role"]


_ORPHAN = """
import sys, time
from cycle.data.deadline import DeadlineWorker
worker = DeadlineWorker(float(sys.argv[1]))
worker._start()
print(worker._proc.pid, flush=True)
worker.call(time.sleep, 600)
"""


def _gone(pid: int, wait_s: float) -> bool:
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.1)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.timeout(60)
def test_parse_worker_dies_with_its_build_and_keeps_its_own_deadline():
    build = subprocess.Popen(
        [sys.executable, "-c", _ORPHAN, "600"], stdout=subprocess.PIPE, text=True
    )
    pid = int(build.stdout.readline())
    time.sleep(0.5)  # the worker is now inside the slow call
    build.send_signal(signal.SIGKILL)
    build.wait()
    assert _gone(pid, 20), "the parse worker outlived its killed build"

    with DeadlineWorker(0.5) as worker:  # the parent never enforces: the worker's alarm does
        worker._start()
        worker._conn.send((time.sleep, (600,)))
        assert worker._conn.poll(20)
        with pytest.raises(EOFError):
            worker._conn.recv()
        worker._proc.join(5)
        assert worker._proc.exitcode == -signal.SIGALRM
