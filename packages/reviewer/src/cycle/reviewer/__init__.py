"""CycleReviewer: the review text format and its tolerant parser, training, inference, Table 1 metrics."""

from cycle.reviewer.format import ParsedReview, ReviewSet, parse_review, render_review_text
from cycle.reviewer.infer import PaperReview, Reviewer, build_reviewer, fit_paper
from cycle.reviewer.schemas import ReviewerConfig

__all__ = [
    "PaperReview",
    "ParsedReview",
    "ReviewSet",
    "Reviewer",
    "ReviewerConfig",
    "build_reviewer",
    "fit_paper",
    "parse_review",
    "render_review_text",
]
