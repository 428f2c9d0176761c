"""Records, LaTeX/BibTeX/OpenReview processing, and the Review-5K / Research-14K builders."""

from cycle.data.records import Paper, Reference, Review, ReviewedPaper

__all__ = ["Paper", "Reference", "Review", "ReviewedPaper"]
