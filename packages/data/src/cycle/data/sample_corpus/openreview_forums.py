"""OpenReview API-v2 dumps of ICLR 2024 forums (Review-5K style) with their papers."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path
from typing import Any

from cycle.data.sample_corpus.files import write_json, write_text
from cycle.data.sample_corpus.knobs import draw_knobs, quality
from cycle.data.sample_corpus.paper import PaperText, render_paper
from cycle.data.sample_corpus.preamble import PACKAGES, SYNTHETIC_LINE, venue_preamble
from cycle.data.sample_corpus.reasons import REASONS
from cycle.data.sample_corpus.reviews import (
    EMPHASES,
    ReviewDraft,
    decide,
    draw_ratings,
    meta_review,
    review_context,
    write_review,
)
from cycle.data.sample_corpus.spec import PaperSpec, build_spec
from cycle.data.sample_corpus.text import fill

N_FORUMS = 40
RATING_TEXT = {
    1: "1: strong reject",
    3: "3: reject, not good enough",
    5: "5: marginally below the acceptance threshold",
    6: "6: marginally above the acceptance threshold",
    8: "8: accept, good paper",
    10: "10: strong accept, should be highlighted at the conference",
}
SUBSCORE_TEXT = {1: "1 poor", 2: "2 fair", 3: "3 good", 4: "4 excellent"}
CONFIDENCE_TEXT = {
    1: "1: You are unable to assess this paper and have alerted the ACs to seek an opinion from different reviewers.",
    2: "2: You are willing to defend your assessment, but it is quite likely that you did not understand the central parts of the submission or that you are unfamiliar with some pieces of related work. Math/other details were not carefully checked.",
    3: "3: You are fairly confident in your assessment. It is possible that you did not understand some parts of the submission or that you are unfamiliar with some pieces of related work. Math/other details were not carefully checked.",
    4: "4: You are confident in your assessment, but not absolutely certain. It is unlikely, but not impossible, that you did not understand some parts of the submission or that you are unfamiliar with some pieces of related work.",
    5: "5: You are absolutely certain about your assessment. You are very familiar with the related work and checked the math/other details carefully.",
}
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
VENUE = "ICLR.cc/2024/Conference"
T_SUBMIT, T_REVIEW, T_COMMENT, T_META, T_DECISION = (
    1695340800000,
    1698000000000,
    1700000000000,
    1701800000000,
    1705320000000,
)


def rand_id(rng: random.Random, n: int = 10) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(n))


def make_note(
    nid: str,
    forum: str,
    replyto: str | None,
    invitation: str,
    signature: str,
    cdate: int,
    content: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    note = {
        "id": nid,
        "forum": forum,
        "replyto": replyto,
        **extra,
        "invitations": [invitation],
        "signatures": [signature],
        "readers": ["everyone"],
        "cdate": cdate,
        "tcdate": cdate,
        "mdate": cdate,
        "content": {key: {"value": value} for key, value in content.items()},
    }
    return note


def paper_tex(spec: PaperSpec, text: PaperText) -> str:
    preamble = [venue_preamble("ICLR 2024"), PACKAGES]
    if spec.macro:
        preamble.append(f"\\newcommand{{\\ours}}{{\\textsc{{{spec.method}}}}}")
    return "\n".join(
        [
            SYNTHETIC_LINE,
            *preamble,
            "",
            f"\\title{{{text.title}}}",
            "\\author{Anonymous authors \\\\ Paper under double-blind review}",
            "",
            "\\begin{document}",
            "\\maketitle",
            f"\\begin{{abstract}}\n{text.abstract}\n\\end{{abstract}}",
            "",
            *(latex for _, latex in text.parts),
            "\\end{document}",
            "",
        ]
    )


RESPONSES = (
    "We agree that this is important and have added the corresponding experiment to the revised version.",
    "We will clarify this point in the revision.",
    "This is a fair concern; we now discuss it explicitly in the paper.",
)


def forum_notes(
    rng: random.Random,
    spec: PaperSpec,
    text: PaperText,
    number: int,
    status: str,
    integer_scores: bool,
    malformed: bool,
    standout: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The API-v2 notes of one forum, and what the generator decided (for knobs.json).

    ``standout`` redraws the ratings until one reviewer gives 10, so that the corpus holds a
    ``"10: strong accept..."`` string (a parser reading only the first digit would see 1).
    """
    forum = rand_id(rng)
    prefix = f"{VENUE}/Submission{number}"
    q = quality(spec.knobs)
    notes: list[dict[str, Any]] = []
    info: dict[str, Any] = {
        "status": status,
        "integer_scores": integer_scores,
        "malformed_rating": malformed,
    }
    drafts: list[ReviewDraft] = []
    ratings: list[int] = []
    if status != "desk_rejected":
        n_reviews = rng.choices((3, 4, 5), weights=(3, 5, 2))[0]
        emphases = [rng.choice(EMPHASES) for _ in range(n_reviews)]
        ratings = draw_ratings(rng, q, emphases, spec.knobs)
        while standout and 10 not in ratings:
            ratings = draw_ratings(rng, q, emphases, spec.knobs)
        drafts = [write_review(rng, spec, r, e, q) for r, e in zip(ratings, emphases, strict=True)]
    decision = ""
    if status == "reviewed":
        shown = [r for i, r in enumerate(ratings) if not (malformed and i == 1)]
        decision = decide(rng, shown)
    accepted = decision.startswith("Accept")
    venue, venueid = {
        "reviewed": (
            f"ICLR 2024 {decision[8:-1]}" if accepted else "Submitted to ICLR 2024",
            VENUE if accepted else f"{VENUE}/Rejected_Submission",
        ),
        "withdrawn": ("ICLR 2024 Conference Withdrawn Submission", f"{VENUE}/Withdrawn_Submission"),
        "desk_rejected": (
            "ICLR 2024 Conference Desk Rejected Submission",
            f"{VENUE}/Desk_Rejected_Submission",
        ),
    }[status]
    content: dict[str, Any] = {
        "title": text.title,
        "keywords": list(spec.area.keywords[: rng.randint(2, 4)]),
        "abstract": text.abstract.replace("\\%", "%"),
        "primary_area": spec.area.primary_area,
        "venue": venue,
        "venueid": venueid,
        "pdf": f"/pdf/{''.join(rng.choice('0123456789abcdef') for _ in range(40))}.pdf",
        "synthetic": True,
    }
    if rng.random() < 0.5:
        content["TLDR"] = f"{spec.method} addresses {spec.area.issue} by {spec.mechanism}."
    notes.append(
        make_note(
            forum,
            forum,
            None,
            f"{VENUE}/-/Submission",
            f"{prefix}/Authors",
            T_SUBMIT + rng.randint(0, 8 * 86400000),
            content,
            number=number,
        )
    )
    reviewer_ids = []
    for i, d in enumerate(drafts):
        rid = rand_id(rng)
        reviewer = f"{prefix}/Reviewer_{rand_id(rng, 4)}"
        reviewer_ids.append((rid, reviewer))
        rating: Any = d.rating if integer_scores else RATING_TEXT[d.rating]
        if malformed and i == 1:
            rating = "N/A"
        rc = {
            "summary": d.summary,
            "soundness": d.soundness if integer_scores else SUBSCORE_TEXT[d.soundness],
            "presentation": d.presentation if integer_scores else SUBSCORE_TEXT[d.presentation],
            "contribution": d.contribution if integer_scores else SUBSCORE_TEXT[d.contribution],
            "strengths": d.strengths,
            "weaknesses": d.weaknesses,
            "questions": d.questions,
            "flag_for_ethics_review": ["No ethics review needed."],
            "rating": rating,
            "confidence": d.confidence if integer_scores else CONFIDENCE_TEXT[d.confidence],
            "code_of_conduct": "Yes",
        }
        notes.append(
            make_note(
                rid,
                forum,
                forum,
                f"{prefix}/-/Official_Review",
                reviewer,
                T_REVIEW + rng.randint(0, 15 * 86400000),
                rc,
            )
        )
    if drafts and rng.random() < 0.5:
        low = min(range(len(drafts)), key=lambda i: drafts[i].rating)
        rid, reviewer = reviewer_ids[low]
        points = drafts[low].weakness_ids[:2]
        by_id = {r.rid: r for r in REASONS}
        ctx = review_context(rng, spec)
        reply = " ".join(
            f"Regarding {fill(by_id[p].meta, ctx)}: {rng.choice(RESPONSES)}" for p in points
        )
        cid = rand_id(rng)
        t = T_COMMENT + rng.randint(0, 5 * 86400000)
        notes.append(
            make_note(
                cid,
                forum,
                rid,
                f"{prefix}/-/Official_Comment",
                f"{prefix}/Authors",
                t,
                {
                    "title": f"Response to {reviewer.rsplit('/', 1)[1].replace('_', ' ')}",
                    "comment": f"We thank the reviewer for the detailed feedback. {reply}",
                },
            )
        )
        if rng.random() < 0.6:
            notes.append(
                make_note(
                    rand_id(rng),
                    forum,
                    cid,
                    f"{prefix}/-/Official_Comment",
                    reviewer,
                    t + rng.randint(3600000, 3 * 86400000),
                    {
                        "comment": rng.choice(
                            (
                                "Thank you for the clarifications. I keep my score.",
                                "Thanks for the response; I have raised my confidence but keep my rating.",
                            )
                        )
                    },
                )
            )
    if status == "reviewed":
        shown = [r for i, r in enumerate(ratings) if not (malformed and i == 1)]
        notes.append(
            make_note(
                rand_id(rng),
                forum,
                forum,
                f"{prefix}/-/Meta_Review",
                f"{prefix}/Area_Chair_{rand_id(rng, 4)}",
                T_META + rng.randint(0, 6 * 86400000),
                meta_review(rng, spec, drafts, shown, decision),
            )
        )
        notes.append(
            make_note(
                rand_id(rng),
                forum,
                forum,
                f"{prefix}/-/Decision",
                f"{VENUE}/Program_Chairs",
                T_DECISION + rng.randint(0, 86400000),
                {"title": "Paper Decision", "decision": decision},
            )
        )
    elif status == "withdrawn":
        notes.append(
            make_note(
                rand_id(rng),
                forum,
                forum,
                f"{prefix}/-/Withdrawal",
                f"{prefix}/Authors",
                T_COMMENT + rng.randint(0, 86400000),
                {
                    "title": "Withdrawal by Authors",
                    "withdrawal_confirmation": "I have read and agree with the venue's withdrawal policy on behalf of myself and my co-authors.",
                    "comment": "We thank the reviewers for their feedback and will improve the paper.",
                },
            )
        )
    else:
        notes.append(
            make_note(
                rand_id(rng),
                forum,
                forum,
                f"{prefix}/-/Desk_Rejection",
                f"{VENUE}/Program_Chairs",
                T_SUBMIT + 20 * 86400000 + rng.randint(0, 86400000),
                {
                    "title": "Submission Desk Rejected by Program Chairs",
                    "desk_reject_comments": "This submission exceeds the page limit of the call for papers.",
                },
            )
        )
    notes.sort(key=lambda n: (n["cdate"], n["id"]))
    info.update(
        {
            "forum": forum,
            "number": number,
            "decision": decision or None,
            "ratings": [None if (malformed and i == 1) else r for i, r in enumerate(ratings)],
        }
    )
    return notes, info


def generate_openreview(out: Path, seed: int, taken: set[str]) -> dict[str, Any]:
    special = random.Random(f"{seed}-openreview-special")
    numbers = special.sample(range(1, 7400), k=N_FORUMS + 2)
    integer_forums = set(special.sample(range(N_FORUMS), k=3))
    malformed_forum, standout_forum = special.sample(
        [i for i in range(N_FORUMS) if i not in integer_forums], k=2
    )
    record: dict[str, Any] = {}
    for i in range(N_FORUMS + 2):
        status = "reviewed" if i < N_FORUMS else ("withdrawn" if i == N_FORUMS else "desk_rejected")
        rng = random.Random(f"{seed}-openreview-{i}")
        knobs = draw_knobs(rng)
        while (status == "withdrawn" and quality(knobs) > 5.0) or (
            i == standout_forum and quality(knobs) < 8.3
        ):
            knobs = draw_knobs(rng)
        spec = build_spec(rng, f"openreview-{i}", knobs, taken, max_year=2023)
        text = render_paper(rng, spec, anonymous=True)
        notes, info = forum_notes(
            rng,
            spec,
            text,
            numbers[i],
            status,
            i in integer_forums,
            i == malformed_forum,
            i == standout_forum,
        )
        folder = out / "openreview" / info["forum"]
        folder.mkdir(parents=True)
        write_json(folder / "notes.json", notes, indent=1)
        write_text(folder / "paper.tex", paper_tex(spec, text))
        record[info.pop("forum")] = {
            "area": spec.area.key,
            "method": spec.method,
            "knobs": asdict(knobs),
            "quality": round(quality(knobs), 3),
            **info,
        }
    return record
