"""Loaders for the released layouts: local files, and a fast failure for hub ids offline."""

from __future__ import annotations

import json

import pytest

from cycle.data.released import (
    RESEARCH14K_HUB,
    load_released,
    paper_from_research14k_row,
    reviewed_paper_from_record,
)
from tests.factories.released import RESEARCH_ROW, REVIEW_RECORD


def test_local_jsonl_and_parquet(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(RESEARCH_ROW) + "\n")
    ds = load_released(str(path))
    paper = paper_from_research14k_row(ds[0])
    assert paper.paper_id == "abc" and paper.authors == ["Ada"]
    assert paper.sections == [("Introduction", "Hi \\cite{x}"), ("Experiments", "Table")]
    assert paper.references[0].abstract == "RA" and paper.references[0].paper_id == "r1"
    ds.to_parquet(str(tmp_path / "r.parquet"))
    path.unlink()
    assert load_released(str(tmp_path))[0]["paperId"] == "abc"
    with pytest.raises(FileNotFoundError):
        load_released(str(tmp_path / "nope.jsonl"))


def test_review_record_layout():
    rp, problems = reviewed_paper_from_record(REVIEW_RECORD, source="sample.json")
    assert rp.paper.sections == [("Intro", "Text.")] and rp.paper.abstract == "Abs."
    assert rp.ratings == [6] and rp.reviews[0].soundness == 3 and not rp.accepted
    assert [p.record for p in problems if p.dropped] == ["r2"]
    assert {p.reason.split(":")[0] for p in problems if not p.dropped} == {
        "presentation",
        "contribution",
    }
    markdown = {**REVIEW_RECORD, "paper_context": "# Intro\nText\n## Method\nMore"}
    rp, _ = reviewed_paper_from_record(markdown)
    assert rp.paper.sections == [("Intro", "Text"), ("Method", "More")]
    built_here = {"paper": rp.paper.to_row(), "reviews": [], "decision": ""}
    assert reviewed_paper_from_record(built_here)[0].paper == rp.paper


def test_hub_id_offline_fails_fast(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="offline"):
        load_released(RESEARCH14K_HUB)


def test_int_rating_beside_the_content_is_used() -> None:
    record = {
        **REVIEW_RECORD,
        "review": [
            {"id": "a", "rating": 8, "content": {"summary": "s", "soundness": "3 good"}},
            {"id": "b", "rating": 5, "content": {"summary": "t"}},
        ],
    }
    rp, problems = reviewed_paper_from_record(record)
    assert rp.ratings == [8, 5] and not [p for p in problems if p.dropped]
