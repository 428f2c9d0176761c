"""CycleReviewer: the review text format and its tolerant parser, training, inference, Table 1 metrics."""

from cycle.reviewer.format import ParsedReview, ReviewSet, parse_review, render_review_text

__all__ = ["ParsedReview", "ReviewSet", "parse_review", "render_review_text"]
