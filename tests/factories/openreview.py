"""OpenReview API-v2 notes (one forum, its reviews) and a fake API client."""

from __future__ import annotations

INV = "ICLR.cc/2024/Conference"


def review_note(i, rating, **extra):
    content = {
        "summary": "sum",
        "soundness": "3 good",
        "presentation": "2 fair",
        "contribution": "4 excellent",
        "strengths": "s",
        "weaknesses": "w",
        "questions": "q",
        "flag_for_ethics_review": ["No ethics review needed."],
        "rating": rating,
        "confidence": "4: You are confident in your assessment, but not absolutely certain.",
        "code_of_conduct": "Yes",
        **extra,
    }
    return {
        "id": f"r{i}",
        "forum": "F1",
        "replyto": "F1",
        "invitations": [f"{INV}/Submission7/-/Official_Review"],
        "content": {k: {"value": v} for k, v in content.items()},
    }


def forum(reviews, venueid=INV, venue="ICLR 2024 poster", decision="Accept (spotlight)"):
    notes = [
        {
            "id": "F1",
            "forum": "F1",
            "invitations": [f"{INV}/-/Submission"],
            "content": {
                "title": {"value": "T"},
                "venue": {"value": venue},
                "venueid": {"value": venueid},
            },
        },
        *reviews,
        {
            "id": "c1",
            "forum": "F1",
            "invitations": [f"{INV}/Submission7/-/Official_Comment"],
            "content": {},
        },
        {
            "id": "m1",
            "forum": "F1",
            "invitations": [f"{INV}/Submission7/-/Meta_Review"],
            "content": {
                "metareview": {"value": "Solid."},
                "justification_for_why_not_higher_score": {"value": "Limited scope."},
            },
        },
    ]
    if decision:
        notes.append(
            {
                "id": "d1",
                "forum": "F1",
                "invitations": [f"{INV}/Submission7/-/Decision"],
                "content": {"decision": {"value": decision}},
            }  # fmt: skip
        )
    return notes


class FakeNote:
    def __init__(self, forum_id):
        self.forum_id = forum_id
        self.details = {
            "replies": [
                {"id": f"{forum_id}-r", "invitations": [f"{INV}/Submission1/-/Official_Review"]}
            ]
        }

    def to_json(self):
        return {"id": self.forum_id, "forum": self.forum_id, "details": self.details}


class FakeClient:
    def __init__(self):
        self.calls = []

    def get_all_notes(self, **kwargs):
        self.calls.append(kwargs)
        return [FakeNote("A"), FakeNote("B")]
