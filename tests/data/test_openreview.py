"""OpenReview API-v2 dumps -> ReviewedPaper: scores, exclusions, decisions, per-record errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cycle.data.openreview import (
    decision_from_venue,
    fetch_forums,
    iter_forums,
    openreview_client,
    parse_forum,
    parse_review,
)
from tests.factories.openreview import INV, FakeClient, forum, review_note

ICLR2024_RATINGS = {
    "1: strong reject": 1,
    "3: reject, not good enough": 3,
    "5: marginally below the acceptance threshold": 5,
    "6: marginally above the acceptance threshold": 6,
    "8: accept, good paper": 8,
    "10: strong accept, should be highlighted at the conference": 10,
}


@pytest.mark.parametrize("raw,value", ICLR2024_RATINGS.items())
def test_every_iclr2024_rating(raw, value):
    review, problems = parse_review(review_note(0, raw))
    assert review.rating == value and problems == []
    assert review.raw["rating"] == raw


def test_review_fields_raw_and_plain_integers():
    review, _ = parse_review(review_note(0, "6: marginally above the acceptance threshold"))
    assert (review.soundness, review.presentation, review.contribution, review.confidence) == (
        3,
        2,
        4,
        4,
    )
    assert review.flag_for_ethics_review == "No ethics review needed."
    assert review.raw["flag_for_ethics_review"] == '["No ethics review needed."]'
    assert review.raw["soundness"] == "3 good" and review.summary == "sum"
    plain, problems = parse_review(review_note(1, 8, soundness=3, confidence=5))  # 2025-style ints
    assert (plain.rating, plain.soundness, plain.confidence) == (8, 3, 5) and problems == []
    assert plain.raw["rating"] == "8"


def test_bad_scores_are_reported():
    review, problems = parse_review(review_note(0, "N/A"))
    assert review is None and problems[0].kind == "review" and "N/A" in problems[0].reason
    review, problems = parse_review(review_note(0, "12: off the scale"))
    assert review is None
    review, problems = parse_review(
        review_note(0, "6: ok", soundness="great", confidence="7: sure")
    )
    assert review.rating == 6 and review.soundness is None and review.confidence is None
    assert sorted(p.reason.split(":")[0] for p in problems) == ["confidence", "soundness"]
    assert not any(p.dropped for p in problems)


def test_forum_with_reviews_meta_review_and_decision(tmp_path):
    tex = tmp_path / "paper.tex"
    tex.write_text("\\title{T}\\begin{abstract}Abs.\\end{abstract}\n\\section{Intro}\nHello.\n")
    notes = forum(
        [review_note(0, "8: accept, good paper"), review_note(1, "N/A"), review_note(2, 3)]
    )
    rp, problems = parse_forum(notes, "dump", tmp_path)
    assert rp.decision == "Accept (spotlight)" and rp.accepted
    assert rp.ratings == [8, 3]
    assert (
        rp.meta_review == "Solid.\n\n### Justification For Why Not Higher Score\n\nLimited scope."
    )
    assert rp.paper.paper_id == "F1" and rp.paper.sections == [("Intro", "Hello.")]
    assert [p.record for p in problems] == ["r1"]
    # Without a Decision note the decision comes from the venue.
    rp, _ = parse_forum(forum([review_note(0, 6)], decision=None), "dump", tmp_path)
    assert rp.decision == "Accept (poster)"


@pytest.mark.parametrize(
    "venueid,reason",
    [
        (f"{INV}/Withdrawn_Submission", "withdrawn"),
        (f"{INV}/Desk_Rejected_Submission", "desk rejected"),
    ],
)
def test_withdrawn_and_desk_rejected_are_excluded(venueid, reason, tmp_path):
    rp, problems = parse_forum(
        forum([review_note(0, 6)], venueid=venueid, decision=None), "dump", None
    )
    assert rp is None and problems == [problems[0]] and problems[0].reason == f"excluded: {reason}"


def test_decision_from_venue_and_forum_errors(tmp_path):
    assert decision_from_venue("ICLR 2024 oral", INV) == "Accept (oral)"
    assert decision_from_venue("Submitted to ICLR 2024", f"{INV}/Rejected_Submission") == "Reject"
    rp, problems = parse_forum(forum([review_note(0, 6)]), "dump", tmp_path / "missing")
    assert rp is None and "no paper text" in problems[-1].reason
    rp, problems = parse_forum(forum([review_note(0, "N/A")]), "dump", None, min_reviews=1)
    assert rp is None and "0 usable reviews" in problems[-1].reason


def test_iter_forums_reports_broken_dumps(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "notes.json").write_text("{not json")
    (tmp_path / "dict").mkdir()
    (tmp_path / "dict" / "notes.json").write_text("{}")
    results = list(iter_forums(tmp_path))
    assert [r[0] for r in results] == [None, None]
    assert (
        "JSONDecodeError" in results[0][1][0].reason
        and "not a JSON list" in results[1][1][0].reason
    )


def test_fetch_forums_caches_and_checks_arguments(tmp_path, monkeypatch):
    (tmp_path / "A").mkdir()
    (tmp_path / "A" / "notes.json").write_text("[]")
    client = FakeClient()
    assert fetch_forums(INV, tmp_path, client=client) == {"fetched": 1, "cached": 1, "refused": 0}
    assert client.calls == [{"invitation": f"{INV}/-/Submission", "details": "replies"}]
    saved = json.loads(Path(tmp_path / "B" / "notes.json").read_text())
    assert [n["id"] for n in saved] == ["B", "B-r"] and "details" not in saved[0]
    with pytest.raises(ValueError):
        fetch_forums("ICLR2024", tmp_path, client=client)
    with pytest.raises(ValueError):
        fetch_forums(INV, tmp_path, client=client, limit=0)
    monkeypatch.delenv("OPENREVIEW_USERNAME", raising=False)
    monkeypatch.setenv("OPENREVIEW_PASSWORD", "hunter2")
    with pytest.raises(RuntimeError) as err:
        openreview_client()
    assert "OPENREVIEW_USERNAME" in str(err.value) and "hunter2" not in str(err.value)
