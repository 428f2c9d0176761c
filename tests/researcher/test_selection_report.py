"""Rejection sampling, the best-of-N curve and the paper-quality report against hand-computed values."""

from __future__ import annotations

from itertools import combinations
from statistics import fmean

import pytest

from cycle.data.records import Reference
from cycle.researcher.protocol import GeneratedPaper
from cycle.researcher.report import cited_keys, quality_table, references_cited, write_report
from cycle.researcher.selection import best_index, best_of_n, best_of_n_curve, expected_max_of_n


def test_best_of_n_picks_the_max_per_group_and_skips_unscored() -> None:
    groups = [["a", "b", "c"], ["d", "e"], ["f"]]
    scores = {"a": 5.0, "b": 7.5, "c": 6.0, "d": None, "e": 3.0, "f": None}
    calls = []

    def score(papers):
        calls.append(list(papers))
        return [scores[p] for p in papers]

    assert best_of_n(groups, score) == [("b", 7.5), ("e", 3.0), (None, None)]
    assert calls == [["a", "b", "c", "d", "e", "f"]]  # one batched call
    assert best_index([2.0, 4.0, 4.0]) == 1  # first of the tied maxima
    with pytest.raises(ValueError):
        best_of_n([["a"]], lambda papers: [])


def test_expected_max_without_replacement_matches_enumeration() -> None:
    scores = [3.0, 8.0, 5.0, 6.0, 4.0]
    for n in range(1, 6):
        brute = fmean(max(c) for c in combinations(scores, n))
        assert expected_max_of_n(scores, n) == pytest.approx(brute)
    assert expected_max_of_n(scores, 1) == pytest.approx(5.2)
    assert expected_max_of_n(scores, 5) == 8.0
    with pytest.raises(ValueError):
        expected_max_of_n(scores, 6)


def test_curve_uses_the_available_ns() -> None:
    curve = best_of_n_curve(
        [[1.0, 3.0, 2.0, 4.0, 5.0, 0.0], [2.0, 2.0, None, 2.0, 2.0, 2.0]], ns=(1, 5, 10)
    )
    assert list(curve) == [1, 5]  # the second prompt has 5 scored samples
    assert curve[1] == pytest.approx((2.5 + 2.0) / 2)
    assert curve[5] == pytest.approx((expected_max_of_n([1, 3, 2, 4, 5, 0], 5) + 2.0) / 2)


RECORDS = [
    {
        "paper_id": "a",
        "ratings": [3, 5, 6],
        "soundness": [2, 3, 3],
        "presentation": [3, 3, 3],
        "contribution": [2, 2, 3],
        "decision": "Reject",
    },
    {
        "paper_id": "b",
        "ratings": [6, 8],
        "soundness": [3, 4],
        "presentation": [3, 4],
        "contribution": [3, 3],
        "decision": "Accept (poster)",
    },
    {"paper_id": "c", "ratings": [], "decision": ""},  # unparseable reviews: counted, not rated
]


def test_quality_table_hand_computed() -> None:
    t = quality_table(RECORDS)
    assert (t["papers"], t["rated_papers"]) == (3, 2)
    assert t["avg_min_score"] == pytest.approx((3 + 6) / 2)
    assert t["avg_max_score"] == pytest.approx((6 + 8) / 2)
    assert t["avg_score"] == pytest.approx((14 / 3 + 7) / 2)
    assert t["accept_rate"] == pytest.approx(0.5)
    assert t["soundness"] == pytest.approx((8 / 3 + 3.5) / 2)
    assert t["contribution"] == pytest.approx((7 / 3 + 3) / 2)


def _paper(body: str) -> GeneratedPaper:
    refs = [Reference(key=k, title=k.upper()) for k in ("a", "b", "c")]
    return GeneratedPaper(
        title="T",
        abstract="A \\cite{a}",
        sections=[("Intro", body), ("More", "x")],
        references=refs,
    )


def test_references_cited_counts_distinct_resolving_keys() -> None:
    assert cited_keys("\\citep[see][p.~2]{a, b} \\citet{c} \\cite*{d}") == {"a", "b", "c", "d"}
    # a (twice, also in the abstract), b via \citep; "zzz" is not in the bibliography.
    assert references_cited(_paper("\\cite{a} \\citep{b,zzz} \\cite{a}")) == 2


def test_write_report_files_and_metrics(tmp_path) -> None:
    papers = [_paper("\\cite{a,b,c}"), GeneratedPaper(title="only a title")]
    out = write_report(
        tmp_path,
        papers,
        review_records=RECORDS,
        score_groups=[[1.0, 2.0], [3.0, 5.0]],
        system="Test",
        ns=(1, 2),
    )
    assert out["complete_rate"] == 0.5 and out["mean_references_cited"] == 1.5
    assert out["best_of_n/1"] == pytest.approx(2.75) and out["best_of_n/2"] == pytest.approx(3.5)
    assert out["quality/accept_rate"] == 0.5
    text = (tmp_path / "report.md").read_text()
    assert "| Test | 2 | 4.50 | 7.00 |" in text and "50.00%" in text
    assert (tmp_path / "best_of_n.png").stat().st_size > 0


def test_report_logs_tables_and_figure_to_wandb(tmp_path) -> None:
    import wandb

    class FakeRun:
        def __init__(self) -> None:
            self.logged: list[dict] = []

        def log(self, payload: dict) -> None:
            self.logged.append(payload)

    run = FakeRun()
    write_report(
        tmp_path,
        [_paper("\\cite{a}")],
        review_records=RECORDS,
        score_groups=[[1.0, 2.0]],
        ns=(1, 2),
        wandb_run=run,
    )
    (payload,) = run.logged
    assert payload["paper_report/mean_references_cited"] == 1.0
    assert isinstance(payload["paper_report/quality"], wandb.Table)
    assert isinstance(payload["paper_report/best_of_n"], wandb.Image)
    assert payload["paper_report/best_of_n/2"] == 2.0


def test_report_gives_the_first_sample_parse_rate_when_first_turns_were_resampled(tmp_path):
    outline = "```latex\n\\title{T}\n\\begin{abstract}\nA.\n\\end{abstract}\n\\section{I}\nx\n\\section{M}\ny\n```"
    first_try = GeneratedPaper(title="T", abstract="A.", sections=[("I", "x"), ("M", "y")])
    first_try.outline_text = outline
    resampled = GeneratedPaper(
        title="T", abstract="A.", sections=[("I", "x"), ("M", "y")], outline_attempts=3
    )
    resampled.outline_text = outline
    out = write_report(tmp_path, [first_try, resampled, GeneratedPaper(outline_attempts=4)])
    assert out["complete_rate"] == pytest.approx(2 / 3)
    assert out["first_attempt_complete_rate"] == pytest.approx(1 / 3)
    assert out["outline_resampled"] == 2
    text = (tmp_path / "report.md").read_text()
    assert "2 papers took more than one sample (at most 4); 1 parsed at the first sample" in text
