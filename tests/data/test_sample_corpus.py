"""The bundled synthetic sample corpus: reproducible, complete, and consistent with its knobs.

Everything is read with the standard library (json, re), so these tests do not depend on the
parsers they feed.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from cycle.data.sample_corpus.corpus import generate

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "packages/data/src/cycle/data/sample"
SUBMISSION = "ICLR.cc/2024/Conference/-/Submission"
_COMMENT = re.compile(r"(?<!\\)%.*")
_CITE = re.compile(r"\\cite\{([^}]*)\}")
_INPUT = re.compile(r"\\(?:input|include)\{([^}]+)\}")
_ABLATION = re.compile(r"\\(?:sub)?section\*?\{Ablation")
_LIMITATIONS = re.compile(r"\\(?:section\{|paragraph\{)Limitations")


def _strip_comments(tex: str) -> str:
    return "\n".join(_COMMENT.sub("", line) for line in tex.split("\n"))


def _cite_keys(tex: str) -> set[str]:
    return {k.strip() for group in _CITE.findall(_strip_comments(tex)) for k in group.split(",")}


def _score(value: Any) -> int | None:
    """Leading integer of an OpenReview score (all digits: "10: strong accept" is 10)."""
    if isinstance(value, int):
        return value
    match = re.match(r"\s*(\d+)", str(value))
    return int(match.group(1)) if match else None


@pytest.fixture(scope="module")
def knobs() -> dict[str, Any]:
    return json.loads((SAMPLE / "knobs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def forums() -> dict[str, list[dict[str, Any]]]:
    return {
        p.name: json.loads((p / "notes.json").read_text(encoding="utf-8"))
        for p in sorted((SAMPLE / "openreview").iterdir())
    }


def _reviews(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        n["content"]
        for n in notes
        if any(i.endswith("/-/Official_Review") for i in n["invitations"])
    ]


def _mean_rating(notes: list[dict[str, Any]]) -> float:
    ratings = [r for r in (_score(c["rating"]["value"]) for c in _reviews(notes)) if r is not None]
    return statistics.mean(ratings)


def test_generator_reproduces_the_checked_in_corpus(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bundled = {p.relative_to(SAMPLE): p.read_bytes() for p in SAMPLE.rglob("*") if p.is_file()}
    assert sorted(fresh) == sorted(bundled), (
        "file set differs: run python -m cycle.data.sample_corpus"
    )
    changed = [str(p) for p in fresh if fresh[p] != bundled[p]]
    assert not changed, (
        f"stale sample files (run python -m cycle.data.sample_corpus): {changed[:5]}"
    )


def test_corpus_is_package_data_and_small() -> None:
    assert (importlib.resources.files("cycle.data") / "sample" / "README.md").is_file()
    assert "synthetic" in (SAMPLE / "README.md").read_text(encoding="utf-8").lower()
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 2_000_000


def test_every_json_parses_and_every_tex_is_labelled_synthetic() -> None:
    for path in SAMPLE.rglob("*.json"):
        json.loads(path.read_text(encoding="utf-8"))
    for path in SAMPLE.rglob("*.tex"):
        assert path.read_text(encoding="utf-8").startswith("% SYNTHETIC SAMPLE"), path
    for path in (SAMPLE / "arxiv").glob("*/metadata.json"):
        assert json.loads(path.read_text(encoding="utf-8"))["synthetic"] is True


def test_arxiv_folders(knobs: dict[str, Any]) -> None:
    folders = sorted((SAMPLE / "arxiv").iterdir())
    assert {f.name for f in folders} == set(knobs["arxiv"])
    broken = {v["broken"]: k for k, v in knobs["arxiv"].items() if v["broken"]}
    assert set(broken) == {"no_documentclass", "bad_bib"}
    assert len(folders) - len(broken) >= 40
    years = set()
    for folder in folders:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
        assert meta["arxiv"] == folder.name
        assert (
            re.fullmatch(r"\d{4}-\d{2}-\d{2}", meta["date"])
            and meta["date"][2:4] + meta["date"][5:7] == folder.name[:4]
        )
        assert "accept" in meta["decision"].lower() and meta["title"] and meta["authors"]
        years.add(meta["date"][:4])
    assert years == {"2022", "2023", "2024"}
    nodoc = SAMPLE / "arxiv" / broken["no_documentclass"]
    assert not any("\\documentclass" in p.read_text(encoding="utf-8") for p in nodoc.rglob("*.tex"))


def test_arxiv_main_file_reaches_every_tex_file(knobs: dict[str, Any]) -> None:
    for arxiv_id, info in knobs["arxiv"].items():
        if info["broken"] == "no_documentclass":
            continue
        folder = SAMPLE / "arxiv" / arxiv_id
        tex_files = {
            p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8")
            for p in folder.rglob("*.tex")
        }
        mains = [
            name
            for name, text in tex_files.items()
            if "\\documentclass" in text and "\\begin{document}" in text
        ]
        assert len(mains) == 1, (arxiv_id, mains)
        reached, todo = set(), [mains[0]]
        while todo:
            name = todo.pop()
            reached.add(name)
            for target in _INPUT.findall(_strip_comments(tex_files[name])):
                target = target if target.endswith(".tex") else f"{target}.tex"
                assert target in tex_files, (arxiv_id, name, target)
                if target not in reached:
                    todo.append(target)
        assert reached == set(tex_files), (arxiv_id, set(tex_files) - reached)


def test_arxiv_text_and_bib_follow_the_knobs(knobs: dict[str, Any]) -> None:
    for arxiv_id, info in knobs["arxiv"].items():
        folder = SAMPLE / "arxiv" / arxiv_id
        text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.tex")))
        (bib,) = folder.glob("*.bib")
        bib_keys = set(
            re.findall(r"^@(?!string)\w+\{([^,\s]+),", bib.read_text(encoding="utf-8"), flags=re.M)
        )
        k = info["knobs"]
        extra = {"broken2021entry"} if info["broken"] == "bad_bib" else set()
        assert 8 <= k["n_citations"] <= 45
        assert len(bib_keys) == k["n_citations"] + len(extra)
        assert _cite_keys(text) == bib_keys, arxiv_id
        assert bool(_ABLATION.search(_strip_comments(text))) == k["ablation"], arxiv_id
        assert bool(_LIMITATIONS.search(text)) == k["limitations"], arxiv_id
        assert ("$\\pm$" in text) == k["error_bars"], arxiv_id


def test_forums_layout(knobs: dict[str, Any], forums: dict[str, list[dict[str, Any]]]) -> None:
    assert set(forums) == set(knobs["openreview"])
    statuses = {}
    for forum_id, notes in forums.items():
        info = knobs["openreview"][forum_id]
        (submission,) = [n for n in notes if n["invitations"] == [SUBMISSION]]
        assert submission["id"] == forum_id and all(n["forum"] == forum_id for n in notes)
        assert submission["content"]["synthetic"]["value"] is True
        tex = (SAMPLE / "openreview" / forum_id / "paper.tex").read_text(encoding="utf-8")
        assert f"\\title{{{submission['content']['title']['value']}}}" in tex
        venueid = submission["content"]["venueid"]["value"]
        statuses[forum_id] = info["status"]
        decisions = [
            n["content"]["decision"]["value"]
            for n in notes
            if n["invitations"][0].endswith("/-/Decision")
        ]
        metas = [n for n in notes if n["invitations"][0].endswith("/-/Meta_Review")]
        if info["status"] == "reviewed":
            assert 3 <= len(_reviews(notes)) <= 5
            assert decisions == [info["decision"]] and len(metas) == 1
            accepted = "accept" in info["decision"].lower()
            assert venueid == (
                "ICLR.cc/2024/Conference"
                if accepted
                else "ICLR.cc/2024/Conference/Rejected_Submission"
            )
        else:
            assert not decisions and not metas
    assert sum(s == "reviewed" for s in statuses.values()) >= 40
    excluded = {
        knobs["openreview"][f]["status"]: forums[f][0]["content"]["venueid"]["value"]
        for f, s in statuses.items()
        if s != "reviewed"
    }
    assert excluded == {
        "withdrawn": "ICLR.cc/2024/Conference/Withdrawn_Submission",
        "desk_rejected": "ICLR.cc/2024/Conference/Desk_Rejected_Submission",
    }


def test_forum_score_formats(forums: dict[str, list[dict[str, Any]]]) -> None:
    raw = [c["rating"]["value"] for notes in forums.values() for c in _reviews(notes)]
    assert raw.count("N/A") == 1
    assert any(isinstance(r, int) for r in raw) and any(
        isinstance(r, str) and r[0].isdigit() for r in raw
    )
    assert "10: strong accept, should be highlighted at the conference" in raw
    parsed = {_score(r) for r in raw} - {None}
    assert parsed <= {1, 3, 5, 6, 8, 10} and {3, 5, 6, 8, 10} <= parsed
    for notes in forums.values():
        for content in _reviews(notes):
            for field in ("soundness", "presentation", "contribution"):
                assert 1 <= _score(content[field]["value"]) <= 4
            assert 1 <= _score(content["confidence"]["value"]) <= 5
            assert content["flag_for_ethics_review"]["value"] == ["No ethics review needed."]


def test_openreview_paper_text_follows_the_knobs(knobs: dict[str, Any]) -> None:
    for forum_id, info in knobs["openreview"].items():
        tex = (SAMPLE / "openreview" / forum_id / "paper.tex").read_text(encoding="utf-8")
        k = info["knobs"]
        assert len(_cite_keys(tex)) == k["n_citations"], forum_id
        assert bool(_ABLATION.search(tex)) == k["ablation"], forum_id
        assert bool(_LIMITATIONS.search(tex)) == k["limitations"], forum_id
        assert ("$\\pm$" in tex) == k["error_bars"], forum_id
        table = tex[
            tex.index("\\label{tab:main}") : tex.index(
                "\\end{tabular}", tex.index("\\label{tab:main}")
            )
        ]
        header = next(line for line in table.split("\n") if line.startswith("Method &"))
        assert header.count("&") == k["n_datasets"], forum_id


def test_ratings_and_decisions_follow_the_knobs(
    knobs: dict[str, Any], forums: dict[str, list[dict[str, Any]]]
) -> None:
    reviewed = {f: v for f, v in knobs["openreview"].items() if v["status"] == "reviewed"}
    mean = {f: _mean_rating(forums[f]) for f in reviewed}

    def avg(pred) -> float:
        return statistics.mean(mean[f] for f, v in reviewed.items() if pred(v["knobs"]))

    assert avg(lambda k: k["ablation"]) > avg(lambda k: not k["ablation"])
    assert avg(lambda k: k["n_seeds"] > 1) > avg(lambda k: k["n_seeds"] == 1)
    assert avg(lambda k: k["clarity"] >= 3) > avg(lambda k: k["clarity"] <= 2)
    assert avg(lambda k: k["n_datasets"] >= 3) > avg(lambda k: k["n_datasets"] == 1)
    assert (
        statistics.correlation(
            [reviewed[f]["quality"] for f in reviewed], [mean[f] for f in reviewed]
        )
        > 0.8
    )
    accepted = [mean[f] for f, v in reviewed.items() if "accept" in v["decision"].lower()]
    rejected = [mean[f] for f, v in reviewed.items() if v["decision"] == "Reject"]
    assert len(accepted) >= 10 and len(rejected) >= 10
    assert statistics.mean(accepted) > statistics.mean(rejected) + 1
    for f in reviewed:
        ratings = [
            r for r in (_score(c["rating"]["value"]) for c in _reviews(forums[f])) if r is not None
        ]
        assert 1 <= max(ratings) - min(ratings) <= 3, f


def test_reviews_name_reasons_that_match_the_knobs(
    knobs: dict[str, Any], forums: dict[str, list[dict[str, Any]]]
) -> None:
    complaints = {
        "ablation": "no ablation study",
        "single_dataset": "only one dataset",
        "single_run": "single run",
    }
    hits = {name: 0 for name in complaints}
    for forum_id, info in knobs["openreview"].items():
        k = info["knobs"]
        weaknesses = " ".join(c["weaknesses"]["value"] for c in _reviews(forums[forum_id])).lower()
        strengths = " ".join(c["strengths"]["value"] for c in _reviews(forums[forum_id])).lower()
        applies = {
            "ablation": not k["ablation"],
            "single_dataset": k["n_datasets"] == 1,
            "single_run": k["n_seeds"] == 1,
        }
        for name, phrase in complaints.items():
            found = phrase in weaknesses or (
                name == "single_dataset" and "single dataset" in weaknesses
            )
            assert not found or applies[name], (forum_id, phrase)
            hits[name] += found
        if not k["error_bars"]:
            assert "with standard deviations" not in strengths, forum_id
    assert all(n >= 3 for n in hits.values()), hits
    meta = [
        n["content"]["metareview"]["value"]
        for notes in forums.values()
        for n in notes
        if "metareview" in n["content"]
    ]
    assert sum("ablation study" in m for m in meta) >= 5
