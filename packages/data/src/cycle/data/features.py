"""Explicit ``datasets`` features for every row layout, so empty lists and missing values never
change a column's type between builds (and streamed builds need no type inference)."""

from __future__ import annotations

from datasets import Features, Value

_S = Value("string")
_I = Value("int32")
_F = Value("float64")
MESSAGES = [{"role": _S, "content": _S}]

REFERENCE = {
    "key": _S,
    "title": _S,
    "abstract": _S,
    "authors": [_S],
    "year": _I,
    "venue": _S,
    "bibtex": _S,
    "paper_id": _S,
    "doi": _S,
    "arxiv": _S,
}
PAPER = {
    "paper_id": _S,
    "title": _S,
    "abstract": _S,
    "sections": [{"heading": _S, "latex": _S}],
    "references": [REFERENCE],
    "figures": [_S],
    "authors": [_S],
    "venue": _S,
    "year": _I,
    "date": _S,
    "decision": _S,
    "source": _S,
    "text_source": _S,
}
REVIEW = {
    "summary": _S,
    "strengths": _S,
    "weaknesses": _S,
    "questions": _S,
    "soundness": _F,
    "presentation": _F,
    "contribution": _F,
    "rating": _F,
    "confidence": _F,
    "flag_for_ethics_review": _S,
    "suggestions": _S,
    "raw": [{"field": _S, "value": _S}],
}
# A Review-5K row: ReviewedPaper.to_row() plus flat columns for filtering and reading.
REVIEW5K = Features(
    {
        "id": _S,
        "title": _S,
        "paper_text": _S,
        "paper": PAPER,
        "reviews": [REVIEW],
        "meta_review": _S,
        "decision": _S,
        "rating_scale": [_F],  # the venue's [lowest, highest] rating
        "accepted": Value("bool"),
        "ratings": [_F],
        "mean_rating": _F,
    }
)
REVIEW5K_SFT = Features(
    {"id": _S, "messages": MESSAGES, "mean_rating": _F, "decision": _S, "rating_scale": [_F]}
)
# A Research-14K row in the released layout (docs/formats.md §3) plus ``date`` for the split.
RESEARCH14K = Features(
    {
        "paperId": _S,
        "title": _S,
        "abstract": _S,
        "venue": _S,
        "year": _I,
        "date": _S,
        "authors": [{"authorId": _S, "name": _S}],
        "arxiv": _S,
        "references": [{"paperId": _S, "key": _S, "title": _S, "abstract": _S, "bibtex": _S}],
        "sections": [[_S]],
        "figures": [_S],
        "train_data": _S,
        "messages": MESSAGES,
    }
)
