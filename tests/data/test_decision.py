"""Decision texts read with negation scope: a table of phrasings (issue: negations read as Accept)."""

from __future__ import annotations

import pytest

from cycle.data.decision import is_accept, read_decision

A, R, U = "Accept", "Reject", None

TABLE = [
    # plain verdicts, venue labels, markup
    ("Accept", A),
    ("Accepted", A),
    ("Reject", R),
    ("Accept (poster)", A),
    ("ACCEPT (ORAL)", A),
    ("Accept: notable-top-25%", A),
    ("Decision: Accept", A),
    ("**Reject**", R),
    ("Strong accept", A),
    ("Borderline reject", R),
    ("Desk rejected", R),
    ("Accept with minor revisions", A),
    ("Accept with no changes", A),
    ("I recommend acceptance.", A),
    ("Marginally above the acceptance threshold", A),
    # negated acceptance
    ("Not accepted", R),
    ("Unacceptable", R),
    ("Non-acceptance", R),
    ("Not recommended for acceptance", R),
    ("I do not recommend acceptance", R),
    ("I don't recommend acceptance at this time", R),
    ("I would not recommend acceptance", R),
    ("Acceptance is not recommended", R),
    ("Acceptance cannot be recommended", R),
    ("Not ready for acceptance", R),
    ("Cannot be accepted", R),
    ("Should not be accepted", R),
    ("This paper won't be accepted", R),
    ("Below the acceptance threshold", R),
    ("I argue against acceptance", R),
    # negated rejection
    ("Not rejected", A),
    ("This paper is not rejected.", A),
    ("Shouldn't be rejected", A),
    ("Rejection is not warranted", A),
    ("I do not recommend rejection", A),
    # the first clause with a verdict decides; later clauses do not
    ("Reject (cannot be accepted in its current form)", R),
    ("Weak reject; could be accepted after revision", R),
    ("Rejected, not accepted", R),
    ("Accepted (not rejected)", A),
    ("Accept, but not as an oral", A),
    ("It is not novel, so I recommend rejection", R),
    ("The method does not scale and should be rejected", R),
    # ambiguous or no verdict: unreadable, never a guess
    ("Accept or reject", U),
    ("Neither accept nor reject", U),
    ("Not unacceptable", U),
    ("Major revision", U),
    ("Withdrawn", U),
    ("Invite to Workshop Track", U),
    ("", U),
]


@pytest.mark.parametrize(("text", "verdict"), TABLE)
def test_decision_table(text: str, verdict: str | None) -> None:
    assert read_decision(text) == verdict
    assert is_accept(text) is (verdict == "Accept")


def test_table_is_large_and_covers_every_outcome() -> None:
    assert len(TABLE) >= 30 and {v for _, v in TABLE} == {A, R, U}


def test_review_parser_reports_an_unreadable_decision() -> None:
    from cycle.reviewer.format import parse_review

    parsed = parse_review("## Rating\n\n6\n\n## Paper Decision\n\nAccept or reject")
    assert parsed.decision is None and parsed.accepted is None
    assert parsed.decision_raw == "Accept or reject"
    assert any(p.startswith("unreadable decision 'Accept or reject'") for p in parsed.problems)
    not_recommended = parse_review(
        "## Rating\n\n6\n\n## Paper Decision\n\nNot recommended for acceptance"
    )
    assert not_recommended.decision == "Reject"
