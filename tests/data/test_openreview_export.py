"""OpenReview exports in the PeerRead layout -> Review-5K: review parts, scores on each venue's
scale, meta reviews, missing text, stratified splits, and ``cycle build_data`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

from datasets import Dataset, load_from_disk

from cycle.core.io import read_jsonl
from cycle.core.stages import run_stage
from cycle.data.openreview_export import (
    demote_headings,
    load_export_paper,
    review_parts,
    split_strengths_weaknesses,
)
from cycle.data.records import ReviewedPaper
from cycle.data.schemas import OpenReviewExportConfig
from cycle.data.splits import stratified_split
from cycle.reviewer.format import parse_review
from tests.factories.paper_text import DOCLING_MD

SCALES = {"NeurIPS 2023": [1, 10], "NeurIPS 2025": [1, 6]}
FIELDS = {
    "RECOMMENDATION": "rating",
    "REVIEWER_CONFIDENCE": "confidence",
    "SOUNDNESS_CORRECTNESS": "soundness",
    "CLARITY": "presentation",
    "IMPACT": "contribution",
}


def review_2025(rating, both="Strengths:\nClear.\n\n## Weaknesses\nSmall.\n## Scale\nTiny."):
    return {
        "IS_META_REVIEW": False,
        "comments": f"SUMMARY:\nA method.\n\nSTRENGTHS AND WEAKNESSES:\n{both}\n\n"
        "QUESTIONS:\n## Details\nWhy?\n\nLIMITATIONS:\nyes",
        "TITLE": "Official Review",
        "RECOMMENDATION": rating,
        "REVIEWER_CONFIDENCE": 4,
        "CLARITY": 3,
        "IMPACT": 2,
        "ORIGINALITY": 4,
        "DATE": "2025-07-02",
    }


def review_2023(rating):
    return {
        "IS_META_REVIEW": False,
        "comments": "SUMMARY:\nSum.\n\nSTRENGTHS:\nGood.\n\nWEAKNESSES:\n### Major\nBad.\n\n"
        "QUESTIONS:\nQ?\n\nLIMITATIONS:\nNone.",
        "TITLE": "Official Review",
        "RECOMMENDATION": rating,
        "REVIEWER_CONFIDENCE": 3,
        "SOUNDNESS_CORRECTNESS": 3,
        "DATE": "2023-07-01",
    }


META = {
    "IS_META_REVIEW": True,
    "comments": "DECISION:\nAccept (spotlight)\n\nCOMMENT:\nThe reviewers agree.",
    "RECOMMENDATION": "Accept (spotlight)",
    "TITLE": "Decision",
    "DATE": "2025-09-17",
}


def record(pid, conference, reviews, accepted=True):
    return {"title": f"Paper {pid}", "abstract": f"Abstract of {pid}.", "id": pid,
            "authors": ["Ada Lovelace"], "accepted": accepted, "keywords": [],
            "conference": conference, "reviews": reviews, "histories": []}  # fmt: skip


def write_export(root: Path, n_extra: int = 0) -> Path:
    """Both scales, a meta review, missing full text, unrated and off-scale reviews."""
    (root / "reviews").mkdir(parents=True)
    (root / "parsed_pdfs").mkdir()
    records = {
        "a25": record("a25", "NeurIPS 2025", [review_2025(5), review_2025(3), META]),
        "b23": record("b23", "NeurIPS 2023", [review_2023(7), review_2023(4)], accepted=False),
        "c25": record("c25", "NeurIPS 2025", [{**review_2025(5), "RECOMMENDATION": None}]),
        "d25": record("d25", "NeurIPS 2025", [review_2025(8)]),  # off the 1-6 scale
        "e99": record("e99", "ICLR 2099", [review_2023(6)]),  # no rating scale known
        "f25": record("f25", "NeurIPS 2025", [review_2025(4)], accepted=None),  # no decision
    }
    for i in range(n_extra):  # more papers for the split: every 4th rejected
        records[f"x{i:02d}"] = record(f"x{i:02d}", "NeurIPS 2025", [review_2025(4)], i % 4 != 0)
    for pid, rec in records.items():
        (root / "reviews" / f"{pid}.json").write_text(json.dumps(rec))
        if pid != "b23":
            (root / "parsed_pdfs" / f"{pid}.pdf.md").write_text(DOCLING_MD)
    (root / "reviews" / "broken.json").write_text("{not json")
    return root


def config(**kw) -> OpenReviewExportConfig:
    return OpenReviewExportConfig(rating_scales=SCALES, score_fields=FIELDS, **kw)


def test_review_parts_headings_and_strengths_weaknesses():
    parts = review_parts("SUMMARY:\nS.\nSTRENGTHS AND WEAKNESSES:\nX\n\nQUESTIONS:\nQ?")
    assert parts == {"SUMMARY": "S.", "STRENGTHS AND WEAKNESSES": "X", "QUESTIONS": "Q?"}
    assert demote_headings("## Weaknesses\ntext\n**********") == "**Weaknesses**\ntext\n---"
    for label in ("Weaknesses:", "**Weaknesses**", "### Weakness", "[Cons]", "- Weaknesses:"):
        assert split_strengths_weaknesses(f"**Strengths:**\nGood.\n\n{label}\nBad.") == (
            "Good.",
            "Bad.",
        ), label
    assert split_strengths_weaknesses("Strengths: clear.\nWeaknesses: minor typos.") == (
        "clear.",
        "minor typos.",
    )
    assert split_strengths_weaknesses("Quality: fine. The weakness is minor overall here.") is None


def test_export_records_on_both_scales(tmp_path):
    root = write_export(tmp_path / "export")
    rp, problems = load_export_paper(root / "reviews" / "a25.json", root, config())
    assert rp.rating_scale == (1, 6) and rp.ratings == [5, 3] and rp.paper.venue == "NeurIPS 2025"
    assert rp.decision == "Accept (spotlight)" and rp.meta_review == "The reviewers agree."
    assert rp.paper.text_source == "markdown" and rp.paper.year == 2025
    assert "Lovelace" not in rp.paper.text and rp.paper.title == "Paper a25"
    review = rp.reviews[0]
    assert (review.summary, review.strengths, review.questions) == ("A method.", "Clear.", "**Details**\nWhy?")  # fmt: skip
    assert review.weaknesses == "Small.\n**Scale**\nTiny."  # a heading inside a part is demoted
    assert (review.presentation, review.contribution, review.soundness) == (3, 2, None)
    assert review.raw["originality"] == "4" and review.raw["limitations"] == "yes"
    assert review.raw["rating"] == "5"  # rendered as a plain number, not ICLR's wording
    assert [p.kind for p in problems] == ["meta_review"] and problems[0].dropped
    # the review document renders and parses back, field by field
    again = ReviewedPaper.from_row(rp.to_row())
    assert again.rating_scale == (1, 6) and again.paper.text_source == "markdown"
    parsed = parse_review(render(again))
    assert parsed.ratings == [3, 5] and parsed.decision == "Accept"
    assert parsed.review_set.reviews[0].weaknesses == "Small.\n**Scale**\nTiny."

    strict = load_export_paper(root / "reviews" / "b23.json", root, config())
    assert strict[0] is None and "no full text" in strict[1][-1].reason
    rp, _ = load_export_paper(root / "reviews" / "b23.json", root, config(require_full_text=False))
    assert rp.rating_scale == (1, 10) and rp.ratings == [7, 4] and rp.decision == "Reject"
    assert rp.paper.text_source == "abstract" and rp.paper.abstract == "Abstract of b23."
    assert rp.reviews[0].soundness == 3 and rp.reviews[0].weaknesses == "**Major**\nBad."


def render(rp: ReviewedPaper) -> str:
    from cycle.data.review_text import ReviewSet, render_review_text

    return render_review_text(ReviewSet(rp.reviews, rp.meta_review, rp.decision))


def test_rejected_export_records_say_why(tmp_path):
    root = write_export(tmp_path / "export")
    reasons = {}
    for pid in ("c25", "d25", "e99", "f25", "broken"):
        rp, problems = load_export_paper(root / "reviews" / f"{pid}.json", root, config())
        assert rp is None
        reasons[pid] = " | ".join(p.reason for p in problems)
    assert "RECOMMENDATION: no rating on the 1-6 scale in None" in reasons["c25"]
    assert "0 rated reviews" in reasons["c25"]
    assert "no rating on the 1-6 scale in 8" in reasons["d25"]
    assert "venue 'ICLR 2099' has no rating scale" in reasons["e99"]
    assert "no decision" in reasons["f25"]
    assert "JSONDecodeError" in reasons["broken"]
    # full text linked from outside the export is refused, not read
    secret = tmp_path / "secret.md"
    secret.write_text(DOCLING_MD)
    (root / "parsed_pdfs" / "a25.pdf.md").unlink()
    (root / "parsed_pdfs" / "a25.pdf.md").symlink_to(secret)
    rp, problems = load_export_paper(root / "reviews" / "a25.json", root, config())
    assert rp is None and "resolves outside the source folder" in problems[-1].reason
    # a venue label and scale set in config win over the data
    rp, _ = load_export_paper(
        root / "reviews" / "d25.json", root, config(venue="My Venue", rating_scale=[1, 10])
    )
    assert rp.paper.venue == "My Venue" and rp.rating_scale == (1, 10) and rp.ratings == [8]


def test_stratified_split_keeps_the_accept_rate():
    ds = Dataset.from_dict({"id": [str(i) for i in range(100)], "accepted": [i % 5 != 0 for i in range(100)]})  # fmt: skip
    splits = stratified_split(ds, 70, 20, seed=3, column="accepted")
    assert (len(splits["train"]), len(splits["test"])) == (70, 20)
    assert splits["test"]["accepted"].count(False) == 4 and splits["train"]["accepted"].count(False) == 14  # fmt: skip
    assert not set(splits["train"]["id"]) & set(splits["test"]["id"])
    assert stratified_split(ds, 70, 20, seed=3, column="accepted")["test"]["id"] == splits["test"]["id"]  # fmt: skip


def test_build_data_from_an_export(tmp_path):
    root = write_export(tmp_path / "export", n_extra=12)
    run_dir = tmp_path / "run"
    result = run_stage(
        "build_data",
        [
            f"paths.root_dir={tmp_path}",
            "data=openreview_export",
            f"data.export_dir={root}",
            "data.openreview_export.require_full_text=false",
            "token_stats=false",
            "data.review5k_split.train=10",
            "data.review5k_split.test=4",
        ],  # fmt: skip
        run_dir=run_dir,
    )
    # a25, b23 (abstract only) and the 12 extra papers build; c25, d25, e99, f25, broken do not
    assert result["review5k/papers"] == 14 and result["review5k/test"] == 4
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["review5k"]["text_sources"] == {"abstract": 1, "markdown": 13}
    assert summary["review5k"]["rating_scales"] == {"NeurIPS 2025": [1, 6], "NeurIPS 2023": [1, 10]}  # fmt: skip
    papers = load_from_disk(str(run_dir / "review5k" / "papers" / "hf"))
    test = papers["test"]
    assert test["accepted"].count(False) == 1  # 4 rejected of 14 -> 1 of 4 test papers
    scales = {row["id"]: row["rating_scale"] for split in papers.values() for row in split}
    assert scales["a25"] == [1, 6] and scales["b23"] == [1, 10]
    sft = load_from_disk(str(run_dir / "review5k" / "sft" / "hf"))
    row = next(r for split in sft.values() for r in split if r["id"] == "a25")
    assert "Rating: Score 1-6" in row["messages"][0]["content"] and row["rating_scale"] == [1, 6]
    rejected = {r["record"]: r["reason"] for r in read_jsonl(run_dir / "rejected.jsonl")}
    assert "a25#2" in rejected and "meta review" in rejected["a25#2"]
    assert {"c25", "d25", "e99", "f25", "broken"} <= set(rejected)


def test_rating_scales_are_normalised_only_when_mixed():
    from cycle.data.review_text import common_rating_scale, rescale

    assert rescale(4, (1, 6)) == 6.4 and rescale(1, (1, 6)) == 1 and rescale(6, (1, 6)) == 10
    assert common_rating_scale([[1, 6], (1.0, 6.0)]) == ((1, 6), False)
    assert common_rating_scale([[1, 6], [1, 10]]) == ((1, 10), True)
    assert common_rating_scale([]) == ((1, 10), False)
