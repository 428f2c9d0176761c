"""Review text: rendering (docs/formats.md §1) and the tolerant parser (§1–2)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cycle.data.records import Review
from cycle.data.review_text import ReviewSet, format_score, render_review_text, score_from_string
from cycle.reviewer import ParsedReview, parse_review

# ---------------------------------------------------------------- strategies

# Field text: no header markers, separators, braces or backslashes; no CR (normalized away).
_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="#*\\{}\r"),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)
_line = _text.map(lambda s: " ".join(s.split())).filter(bool)
_sub = st.integers(1, 4)
_rating = (
    st.sampled_from([1, 3, 5, 6, 8, 10])
    | st.integers(1, 10)
    | st.integers(2, 19).map(lambda x: x / 2)
)


@st.composite
def _reviews(draw: st.DrawFn) -> Review:
    review = Review(
        summary=draw(_text),
        strengths=draw(_text),
        weaknesses=draw(_text),
        questions=draw(_text),
        suggestions=draw(st.just("") | _text),
        flag_for_ethics_review=draw(_text),
        soundness=draw(_sub),
        presentation=draw(_sub),
        contribution=draw(_sub),
        rating=draw(_rating),
        confidence=draw(st.integers(1, 5)),
    )
    # Raw strings the parser keeps: consistent with the number but not its canonical text.
    if draw(st.booleans()):
        review.raw["soundness"] = str(review.soundness)
    if draw(st.booleans()):
        review.raw["rating"] = f"{review.rating:g}/10"
    return review


_review_sets = st.builds(
    ReviewSet,
    reviews=st.lists(_reviews(), min_size=1, max_size=4),
    meta_review=_text,
    decision=st.sampled_from(["Accept (poster)", "Accept (spotlight)", "Reject"])
    # free text after a verdict (a decision without one is reported as unreadable)
    | st.builds("{}: {}".format, st.sampled_from(["Accept", "Reject"]), _line),
)


def _sorted(rs: ReviewSet) -> ReviewSet:
    return ReviewSet(sorted(rs.reviews, key=lambda r: r.rating), rs.meta_review, rs.decision)


# ---------------------------------------------------------------- properties


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rs=_review_sets, variant=st.sampled_from(["A", "B"]))
def test_render_then_parse_is_identity(rs: ReviewSet, variant: str) -> None:
    parsed = parse_review(render_review_text(rs, variant))
    assert parsed.problems == []
    assert parsed.layout == variant
    assert parsed.review_set == _sorted(rs)
    assert parsed.decision == ("Accept" if rs.accepted else "Reject")
    assert parsed.mean_rating == pytest.approx(rs.mean_rating)


@settings(max_examples=200, deadline=None)
@given(text=st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    parsed = parse_review(text)
    assert isinstance(parsed, ParsedReview)
    assert isinstance(parsed.problems, list)
    assert not any(p.startswith("parser error") for p in parsed.problems)


_fragments = st.sampled_from(
    [
        "## Rating",
        "### Summary:",
        "**Rating:** 7",
        "## Reviewer 2",
        "**********",
        "## Meta Review",
        "## Paper Decision",
        "## Decision:",
        "\\boxed_simreviewers{",
        "\\boxed_review{",
        "\\boxed_verification{",
        "\\boxed_questions{",
        "}",
        "10: strong accept",
        "3.25",
        "N/A",
        "Accept (oral)",
        "",
    ]
)


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(_fragments | st.text(max_size=10), max_size=30))
def test_header_soup_never_raises(lines: list[str]) -> None:
    parsed = parse_review("\n".join(lines))
    assert not any(p.startswith("parser error") for p in parsed.problems)
    for r in parsed.review_set.reviews:
        assert r.rating is None or 1 <= r.rating <= 10


def test_non_string_input_is_a_problem_not_an_exception() -> None:
    parsed = parse_review(None)  # type: ignore[arg-type]
    assert parsed.problems == ["not a string: NoneType"]


# ---------------------------------------------------------------- score strings


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("10: strong accept, should be highlighted at the conference", 10.0),
        ("6: marginally above the acceptance threshold", 6.0),
        ("6.5", 6.5),
        ("  3 good", 3.0),
        ("3.25", 3.25),
        ("N/A", None),
        ("", None),
        (8, 8.0),
        (None, None),
    ],
)
def test_score_from_string_reads_the_whole_leading_number(raw, value) -> None:
    assert score_from_string(raw) == value


def test_format_score_words() -> None:
    assert format_score("soundness", 3) == "3 good"
    assert format_score("contribution", 1.0) == "1 poor"
    assert format_score("rating", 6) == "6: marginally above the acceptance threshold"
    assert format_score("rating", 7) == "7"
    assert format_score("rating", 6.5) == "6.5"
    assert format_score("confidence", 4).startswith("4: You are confident in your assessment")
    assert format_score("soundness", None) == ""


# ---------------------------------------------------------------- rendering


def _review(rating: float | None, summary: str = "s", **kw) -> Review:
    return Review(
        summary=summary,
        soundness=3,
        presentation=3,
        contribution=3,
        rating=rating,
        confidence=4,
        **kw,
    )


def test_render_variant_a_layout() -> None:
    rs = ReviewSet([_review(8, "high"), _review(3, "low")], "Fine work.", "Accept (poster)")
    text = render_review_text(rs, "A")
    assert text.startswith("## Summary\n\nlow\n\n## Soundness\n\n3 good\n\n## Presentation")
    assert (
        "## Rating\n\n3: reject, not good enough\n\n## Confidence\n\n4: You are confident" in text
    )
    assert text.count("\n**********\n") == 2
    assert text.endswith(
        "\n\n**********\n## Meta Review\n\nFine work.\n\n## Paper Decision\n\nAccept (poster)"
    )
    assert text.index("low") < text.index("high")
    assert "Suggestions" not in text  # written only when a review has suggestions


def test_render_variant_b_layout() -> None:
    rs = ReviewSet([_review(6)], "m", "Reject")
    text = render_review_text(rs, "B")
    assert text.startswith("## Reviewer\n\n### Summary\n\ns\n\n### Soundness\n\n3 good")
    assert "**********" not in text
    assert text.endswith("\n\n## Meta Review\n\nm\n\n## Paper Decision\n\nReject")


def test_render_sort_is_stable_and_unrated_reviews_go_last() -> None:
    rs = ReviewSet(
        [_review(None, "none"), _review(6, "first6"), _review(3, "three"), _review(6, "second6")]
    )
    text = render_review_text(rs)
    order = [text.index(s) for s in ("three", "first6", "second6", "none")]
    assert order == sorted(order)


def test_render_keeps_consistent_raw_and_ignores_inconsistent_raw() -> None:
    kept = _review(6, raw={"rating": "6: Marginally above", "soundness": "3"})
    stale = _review(8, raw={"rating": "6: marginally above the acceptance threshold"})
    text = render_review_text(ReviewSet([kept, stale]))
    assert "## Rating\n\n6: Marginally above\n" in text
    assert "## Soundness\n\n3\n" in text
    assert "## Rating\n\n8: accept, good paper\n" in text


def test_render_rejects_unknown_variant() -> None:
    with pytest.raises(ValueError, match="variant"):
        render_review_text(ReviewSet(), "C")  # type: ignore[arg-type]


def test_review_set_stats_and_rows() -> None:
    rs = ReviewSet(
        [_review(3), _review(None), _review(6, raw={"rating": "6"})], "m", "Accept (oral)"
    )
    assert rs.ratings == [3, 6]
    assert (rs.mean_rating, rs.min_rating, rs.max_rating) == (4.5, 3, 6)
    assert rs.accepted
    assert ReviewSet.from_row(json.loads(json.dumps(rs.to_row()))) == rs
    empty = ReviewSet()
    assert (empty.mean_rating, empty.min_rating, empty.max_rating, empty.accepted) == (
        None,
        None,
        None,
        False,
    )


# ---------------------------------------------------------------- parsing CycleReviewer output


def test_rating_ten_is_ten_not_one() -> None:
    parsed = parse_review(
        "## Rating\n\n10: strong accept, should be highlighted at the conference\n"
    )
    assert parsed.review_set.reviews[0].rating == 10
    assert parsed.mean_rating == 10


def test_decimal_scores() -> None:
    parsed = parse_review("## Soundness\n\n2.75\n\n## Rating\n\n6.5\n")
    review = parsed.review_set.reviews[0]
    assert (review.soundness, review.rating) == (2.75, 6.5)
    assert review.raw == {}  # "6.5" is already the canonical text of 6.5


def test_missing_rating_is_reported_per_review() -> None:
    rs = ReviewSet([_review(5), _review(8)], "m", "Reject")
    text = render_review_text(rs).replace("## Rating\n\n8: accept, good paper\n\n", "")
    parsed = parse_review(text)
    assert "review 2: no rating" in parsed.problems
    assert parsed.ratings == [5]
    assert parsed.mean_rating == 5


def test_accept_spotlight_keeps_raw_decision() -> None:
    parsed = parse_review(render_review_text(ReviewSet([_review(8)], "m", "Accept (spotlight)")))
    assert parsed.decision == "Accept"
    assert parsed.decision_raw == "Accept (spotlight)"
    assert parsed.review_set.decision == "Accept (spotlight)"
    assert parsed.accepted is True


def test_tolerates_crlf_levels_colons_bold_case_and_inline_values() -> None:
    text = (
        "### summary:\r\n\r\nA paper.  \r\n"
        "## **Soundness**\r\n3 good\r\n"
        "## Presentation: 2 fair\r\n"
        "#### not a field\r\n"
        "## CONTRIBUTION :\r\n\r\n  4  \r\n"
        "## Rating:\r\n**8**: accept, good paper\r\n"
        "### Confidence\r\n3\r\n"
        "**********\r\n"
        "##   Summary\r\nSecond.\r\n## Rating\r\n\r\n1: strong reject\r\n"
        "**********\r\n"
        "## Meta-Review\r\n\r\nMixed.\r\n### Paper Decision:\r\n\r\nReject\r\n"
    )
    parsed = parse_review(text)
    first, second = parsed.review_set.reviews
    assert first.summary == "A paper."
    assert (first.soundness, first.presentation, first.contribution) == (3, 2, 4)
    assert (first.rating, first.confidence) == (8, 3)
    assert first.raw["rating"] == "**8**: accept, good paper"
    assert second.summary == "Second." and second.rating == 1
    assert parsed.review_set.meta_review == "Mixed."
    assert parsed.decision == "Reject"
    assert parsed.min_rating == 1 and parsed.max_rating == 8
    assert "review 2: no soundness" in parsed.problems
    assert not any("review 1" in p for p in parsed.problems)


def test_bold_lines_inside_fields_are_text_unless_the_document_uses_bold_headers() -> None:
    weaknesses = "**Weaknesses:**\n- No ablation.\n**Questions**\n- Why?"
    rs = ReviewSet([_review(6, weaknesses=weaknesses, questions="q")], "m", "Reject")
    parsed = parse_review(render_review_text(rs))
    assert parsed.review_set.reviews[0].weaknesses == weaknesses
    assert len(parsed.review_set.reviews) == 1
    bold_only = parse_review("**Summary:** Short.\n**Rating**: 5\n**Paper Decision**\nReject")
    assert bold_only.review_set.reviews[0].summary == "Short."
    assert bold_only.ratings == [5] and bold_only.decision == "Reject"


def test_meta_review_sub_headers_are_kept_verbatim() -> None:
    meta = "Overall solid.\n\n### Justification For Why Not Higher Score\n\nLimited scope.\n\n### Summary\n\nnot a field"
    parsed = parse_review(render_review_text(ReviewSet([_review(6)], meta, "Accept (poster)")))
    assert parsed.review_set.meta_review == meta
    assert len(parsed.review_set.reviews) == 1


def test_repeated_field_starts_a_new_review_without_separator() -> None:
    parsed = parse_review(
        "## Summary\n\na\n\n## Rating\n\n3\n\n## Summary\n\nb\n\n## Rating\n\n5\n"
    )
    assert [r.summary for r in parsed.review_set.reviews] == ["a", "b"]
    assert parsed.ratings == [3, 5]


def test_out_of_range_and_unreadable_scores_are_problems_not_numbers() -> None:
    parsed = parse_review("## Rating\n\n12\n\n## Soundness\n\nN/A\n\n## Paper Decision\n\nReject")
    review = parsed.review_set.reviews[0]
    assert review.rating is None and review.soundness is None
    assert review.raw == {"rating": "12", "soundness": "N/A"}
    assert "review 1: rating 12 outside 1-10" in parsed.problems
    assert "review 1: unreadable soundness 'N/A'" in parsed.problems
    assert parsed.mean_rating is None


def test_empty_and_truncated_outputs() -> None:
    empty = parse_review("")
    assert {"no reviews", "no meta review", "no decision"} <= set(empty.problems)
    assert empty.decision is None and empty.accepted is None and empty.mean_rating is None
    truncated = parse_review("## Summary\n\nGood.\n\n## Soundness\n\n3 good\n\n## Rat")
    assert truncated.review_set.reviews[0].soundness == 3
    assert "review 1: no rating" in truncated.problems
    assert "no decision" in truncated.problems


def test_text_after_decision_and_before_fields_is_reported() -> None:
    parsed = parse_review(
        "Sure, here is my review.\n## Rating\n\n6\n## Paper Decision\n\nAccept\nthanks"
    )
    assert parsed.decision == "Accept"
    assert any(
        p.startswith("text in review 1 before its first field ignored") for p in parsed.problems
    )
    assert any(p.startswith("text after the decision ignored") for p in parsed.problems)


# ---------------------------------------------------------------- parsing DeepReviewer output

_SIM_REVIEWER = """## Reviewer {n}

### Summary

The paper proposes a sampling method for base LLMs.

### Soundness

{soundness}

### Presentation

3

### Contribution

2

### Strengths

- Training-free.

### Weaknesses

#### Some Related Works

[1] A Mathematical Theory of Sharpness-Aware Minimization

#### comment

 - The method is close to MALA [1].

### Suggestions

Discuss MALA.

### Questions

- How many MCMC steps?

### Rating

{rating}

### Confidence

4
"""

_FINAL = """\\boxed_review{
## Summary:

A training-free sampler that targets a power distribution.


## Soundness:

3.25


## Presentation:

3.0


## Contribution:

2.75


## Strengths:

Simple and effective.


## Weaknesses:

Missing cost analysis.


## Suggestions:

Report wall-clock time.


## Questions:

What is the block size?


## Rating:

6.5


## Confidence:

3.0


## Decision:

Accept
}"""

_PREAMBLE = (
    "I will use Standard Mode for comprehensive thinking. As a professional reviewer, I will "
    "simulate 4 different reviewers, followed by the verification thinking. Then I will output "
    "the Finally Review Output and Meta Review Output:"
)

_VERIFICATION = """\\boxed_verification{
[
  {
    "Weakness Statement": "The method is close to MALA.",
    "Conclusion": {
      "Validity status": "Valid"
    }
  }
]
}"""

_FULL = (
    f"{_PREAMBLE}\n\n\\boxed_simreviewers{{\n"
    + _SIM_REVIEWER.format(n=1, soundness="2", rating="5")
    + "\n**********\n\n"
    + _SIM_REVIEWER.format(n=2, soundness="4 excellent", rating="8")
    + "}\n\nNow I will verify each weakness:\n\n"
    + _VERIFICATION
    + "\n\nNow, I have successfully verified each review. Next, I will organize this content and "
    "output the final review decision:\n\n" + _FINAL
)


def test_deepreviewer_full_mode() -> None:
    parsed = parse_review(_FULL)
    assert parsed.problems == []
    assert parsed.layout == "deepreviewer"
    assert parsed.preamble == _PREAMBLE
    sims = parsed.review_set.reviews
    assert [r.rating for r in sims] == [5, 8]
    assert [r.soundness for r in sims] == [2, 4]
    assert sims[0].weaknesses.startswith("#### Some Related Works\n\n[1] A Mathematical Theory")
    assert sims[0].weaknesses.endswith("close to MALA [1].")
    assert sims[0].suggestions == "Discuss MALA."
    assert parsed.mean_rating == 6.5 and parsed.min_rating == 5 and parsed.max_rating == 8
    final = parsed.final_review
    assert final is not None
    assert (final.soundness, final.presentation, final.contribution) == (3.25, 3.0, 2.75)
    assert (final.rating, final.confidence) == (6.5, 3.0)
    assert final.weaknesses == "Missing cost analysis."
    assert parsed.decision == "Accept" and parsed.decision_raw == "Accept"
    assert parsed.verification.startswith("[\n  {") and parsed.verification.endswith("}\n]")


def test_deepreviewer_fast_mode_uses_the_final_review() -> None:
    text = "I will use Fast Mode: I will output the final review directly.\n\n" + _FINAL
    parsed = parse_review(text)
    assert parsed.problems == []
    assert parsed.final_review is not None and parsed.final_review.rating == 6.5
    assert parsed.review_set.reviews == [parsed.final_review]
    assert parsed.mean_rating == 6.5
    assert parsed.accepted is True


def test_deepreviewer_search_mode_questions_and_truncation() -> None:
    questions = "\\boxed_questions{\nWhat prior work uses MCMC for LLM decoding?\nIs MALA applicable?\nHow costly is it?\n}"
    parsed = parse_review(f"{_PREAMBLE}\n\n{questions}\n\n" + _FINAL.rsplit("## Rating:", 1)[0])
    assert len(parsed.questions) == 3 and parsed.questions[1] == "Is MALA applicable?"
    assert "\\boxed_review block not closed" in parsed.problems
    assert "final review: no rating" in parsed.problems
    assert "no decision" in parsed.problems
    assert parsed.final_review is not None and parsed.final_review.soundness == 3.25


def test_deepreviewer_decision_closed_inline() -> None:
    parsed = parse_review("\\boxed_review{\n## Rating:\n\n4\n\n## Decision:\n\nReject}")
    assert parsed.decision == "Reject"
    assert parsed.ratings == [4]
    assert not any("not closed" in p for p in parsed.problems)


# ------------------------------------------------- released shapes (issue: read them exactly)


def _benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "review_parsing.py"
    spec = importlib.util.spec_from_file_location("review_parsing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def test_parsing_10mb_of_adversarial_text_is_linear() -> None:
    """Each adversarial shape of benchmarks/review_parsing.py, 10 MB, within the bound the
    benchmark sets (a child process, so a quadratic parser fails instead of hanging)."""
    import os
    import subprocess
    import sys

    path, bench = _benchmark()
    out = subprocess.run(
        [sys.executable, str(path), "--mb", str(bench.TEST_MB)],
        capture_output=True,
        text=True,
        timeout=bench.TEST_BOUND_S * len(bench.SHAPES),
        env=os.environ,
        check=True,
    ).stdout
    rows = [line.split("|") for line in out.splitlines()[2:]]
    assert len(rows) == len(bench.SHAPES)
    for row in rows:
        assert float(row[2]) < bench.TEST_BOUND_S, row


def test_header_line_with_a_long_space_run_parses() -> None:
    parsed = parse_review("## Rating" + " " * 50_000 + "\n\n6\n\n## Paper Decision\n\nAccept")
    assert parsed.ratings == [6] and parsed.decision == "Accept"


def test_a_runaway_repetition_is_capped() -> None:
    from cycle.reviewer.review_sections import MAX_REVIEWS

    parsed = parse_review("## Rating\n\n6\n\n" * 5000)
    assert len(parsed.review_set.reviews) == MAX_REVIEWS and parsed.mean_rating == 6
    assert f"{5000 - MAX_REVIEWS} reviews past the first {MAX_REVIEWS} ignored" in parsed.problems


@pytest.mark.parametrize(
    "text",
    [
        "\\boxed_review{\n## Summary:\n\nOk.\n\n## Rating:\n\n6.",  # DeepReviewer, true 6.5
        "## Summary\n\nOk.\n\n## Rating\n\n1",  # CycleReviewer, true 10
    ],
)
def test_a_rating_ending_a_truncated_generation_is_not_read(text: str) -> None:
    assert parse_review(text).ratings  # untruncated: the number is read as written
    parsed = parse_review(text, truncated=True)
    assert parsed.ratings == [] and parsed.reward_rating() is None
    assert any("ends a truncated generation; not used" in p for p in parsed.problems)
    # a rating followed by more text is complete even when the generation was cut later
    later = parse_review(text.replace("6.", "6.5") + "\n\n## Confidence\n\n4", truncated=True)
    assert later.ratings and later.review_set.reviews[-1].confidence is None


@pytest.mark.parametrize("raw", ["6,5", "1e1", "1O: strong accept", "6.5.1", "3x"])
def test_score_from_string_refuses_numbers_that_run_on(raw: str) -> None:
    assert score_from_string(raw) is None


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [
        ("Not accepted", False),
        ("Reject (cannot be accepted in its current form)", False),
        ("Unacceptable", False),
        ("Weak reject; could be accepted after revision", False),
        ("Accept (poster)", True),
        ("Accepted", True),
        ("Reject", False),
    ],
)
def test_negated_decisions_are_reject(raw: str, accepted: bool) -> None:
    from cycle.data.decision import is_accept

    assert is_accept(raw) is accepted
    assert parse_review(f"## Rating\n\n6\n\n## Paper Decision\n\n{raw}").accepted is accepted


def test_deepreviewer_reward_is_the_final_review_rating() -> None:
    from cycle.reviewer.infer import aggregate

    parsed = parse_review(_FULL)
    assert parsed.mean_rating == 6.5 and parsed.final_rating == 6.5
    text = _FULL.replace("## Rating:\n\n6.5", "## Rating:\n\n3")
    assert "## Rating:\n\n3" in text
    result = aggregate([text])
    assert result.reward == 3 and result.final_rating == 3 and result.mean_rating == 6.5
    assert result.decision == "Accept"  # the decision also comes from the final review


def test_undocumented_boxed_block_is_kept_apart() -> None:
    text = _FULL.replace(
        "\\boxed_simreviewers{", "\\boxed_analysis{\nA note.\n}\n\n\\boxed_simreviewers{"
    )
    text = text.replace("\\boxed_questions{", "")
    parsed = parse_review(text)
    assert parsed.other_blocks == {"analysis": "A note."}
    assert [r.rating for r in parsed.review_set.reviews] == [5, 8]
    assert "undocumented \\boxed_analysis block kept apart" in parsed.problems
    assert parse_review("\\boxed_analysis{\nx\n}").layout != "deepreviewer"


@pytest.mark.parametrize("truncated", [False, True])
def test_deepreviewer_cut_inside_the_simulated_reviewers_gives_no_reward(truncated: bool) -> None:
    """Cut at Reviewer 2's rating: Reviewer 1's 5 alone is not the paper's score."""
    from cycle.reviewer.infer import aggregate

    cut = _FULL[: _FULL.index("{rating}".format(rating="8"), _FULL.index("## Reviewer 2"))]
    assert cut.rstrip().endswith("### Rating")
    parsed = parse_review(cut, truncated=truncated)
    assert parsed.incomplete and parsed.reward_rating() is None
    assert [r.rating for r in parsed.review_set.reviews] == [5, None]  # kept for reading
    assert any("ends inside \\boxed_simreviewers" in p for p in parsed.problems)
    result = aggregate([cut, _FULL], truncated=[truncated, False])
    assert result.n_unparseable == 1 and result.reward == 6.5  # the complete sample only
    assert result.to_row()["samples"][0]["incomplete"] is True
    # closed simulated reviewers without the final review stay readable (the reviewers' mean)
    closed = _FULL[: _FULL.index("Now I will verify")]
    assert parse_review(closed).reward_rating() == 6.5
