"""Records <-> datasets rows without loss, and split sizes/order."""

from __future__ import annotations

import pytest
from datasets import Dataset

from cycle.data.features import REVIEW5K
from cycle.data.records import Paper, Reference, Review, ReviewedPaper
from cycle.data.review5k import review5k_row
from cycle.data.splits import chronological_split, random_split, split_sizes


def reviewed_paper(i: int = 0) -> ReviewedPaper:
    paper = Paper(
        paper_id=f"p{i}",
        title="T \\emph{x}",
        abstract="A 5\\%",
        sections=[("Intro", "Text \\cite{k}"), ("Method", "")],
        references=[
            Reference(
                "k", title="R", authors=["A B"], year=2020, bibtex="@misc{k}", arxiv="2101.00001"
            )
        ],
        figures=["f.pdf"],
        authors=["X"],
        venue="ICLR 2024",
        year=2024,
        date="2024-01-02",
        decision="Accept (poster)",
        source="dump",
    )
    reviews = [
        Review(
            summary="s",
            rating=6.0,
            soundness=3.0,
            raw={"rating": "6: marginally above", "soundness": "3 good"},
        ),
        Review(summary="t", rating=None, confidence=4.0, raw={}),
    ]
    return ReviewedPaper(paper=paper, reviews=reviews, meta_review="m", decision="Accept (poster)")


def test_round_trip_through_a_dataset():
    rps = [reviewed_paper(0), reviewed_paper(1)]
    ds = Dataset.from_list([review5k_row(rp) for rp in rps], features=REVIEW5K)
    back = [ReviewedPaper.from_row(row) for row in ds]
    assert back == rps
    assert ds[0]["mean_rating"] == 6.0 and ds[0]["ratings"] == [6.0]
    # Without explicit features too (type inference path).
    plain = Dataset.from_list([rp.to_row() for rp in rps])
    assert [ReviewedPaper.from_row(r) for r in plain] == rps


@pytest.mark.parametrize(
    "n,expected",
    [
        (10_000, (4189, 782)),  # a large corpus gets the paper's sizes exactly
        (4971, (4189, 782)),
        (100, (84, 16)),  # 100 * 782 / 4971 = 15.7 -> 16
        (10, (8, 2)),
        (2, (1, 1)),  # at least one test row
        (1, (1, 0)),
        (0, (0, 0)),
    ],
)
def test_split_sizes(n, expected):
    assert split_sizes(n, 4189, 782) == expected


def test_research_split_sizes_scale_to_the_paper_fraction():
    assert split_sizes(13_498, 12_696, 802) == (12_696, 802)
    assert split_sizes(40, 12_696, 802) == (38, 2)  # 40 * 802 / 13498 = 2.4 -> 2


def test_random_split_is_seeded_and_disjoint():
    ds = Dataset.from_dict({"id": [str(i) for i in range(50)]})
    a, b = random_split(ds, 4189, 782, seed=1), random_split(ds, 4189, 782, seed=1)
    assert a["test"]["id"] == b["test"]["id"] != random_split(ds, 4189, 782, seed=2)["test"]["id"]
    assert len(a["train"]) == 42 and len(a["test"]) == 8
    assert not set(a["train"]["id"]) & set(a["test"]["id"])


def test_chronological_split_puts_newest_in_test():
    dates = ["2023-05-01", "2022-01-01", "2024-03-01", "2023-01-01", "2024-01-01", "2022-06-01"]
    ds = Dataset.from_dict({"date": dates, "id": list("abcdef")})
    out = chronological_split(ds, train=3, test=2)
    assert out["test"]["date"] == ["2024-01-01", "2024-03-01"]
    assert out["train"]["date"] == ["2022-06-01", "2023-01-01", "2023-05-01"]  # oldest one unused


def test_single_row_corpus_has_an_empty_test_split():
    ds = Dataset.from_dict({"date": ["2024-01-01"]})
    for out in (random_split(ds, 4189, 782, seed=0), chronological_split(ds, 12_696, 802)):
        assert (len(out["train"]), len(out["test"])) == (1, 0)
