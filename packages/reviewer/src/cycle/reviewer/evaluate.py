"""Rows of the paper's Table 1 from human ratings/decisions and a reviewer's predictions.

Proxy MSE/MAE come from ``cycle.reviewer.metrics`` (averaged per paper). The human-individual
row has no "n" mode (a reviewer cannot be compared with a mean that includes itself), and its
decision scores treat each review as a vote: Accept when its rating is at least
``accept_threshold`` (6 = "marginally above the acceptance threshold"), pooled over reviews.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from cycle.reviewer.metrics import (
    Draw,
    decision_metrics,
    human_individual_errors,
    proxy_errors,
    proxy_mse_mae,
)

# The paper's Table 1 (Review-5K test split).
PAPER_TABLE1 = {
    "CycleReviewer (paper)": {
        "mse_n1": 1.43,
        "mae_n1": 0.92,
        "mse_n": 1.25,
        "mae_n": 0.87,
        "accuracy": 0.7424,
        "macro_f1": 0.7399,
    },
    "Human individual (paper)": {
        "mse_n1": 2.34,
        "mae_n1": 1.16,
        "accuracy": 0.7540,
        "macro_f1": 0.7539,
    },
}


@dataclass
class Table1Row:
    name: str
    mse_n1: float | None
    mae_n1: float | None
    mse_n: float | None
    mae_n: float | None
    accuracy: float | None
    macro_f1: float | None
    n_papers: int  # papers in the proxy metrics (n-1 mode)
    n_decisions: int  # decisions scored (papers, or reviews for the human row)
    parse_rate: float | None = None  # outputs with a readable rating (models only)
    skipped_no_prediction: int = 0

    def to_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


def human_row(
    human_ratings: Sequence[Sequence[float | None]],
    accepted: Sequence[bool],
    accept_threshold: float = 6.0,
    name: str = "Human individual",
) -> Table1Row:
    """Each human reviewer against the others (proxy) and against the final decision."""
    proxy = proxy_mse_mae(human_individual_errors(human_ratings))
    true, votes = [], []
    for ratings, decision in zip(human_ratings, accepted, strict=True):
        for r in ratings:
            if r is not None:
                true.append(bool(decision))
                votes.append(r >= accept_threshold)
    dec = decision_metrics(true, votes)
    return Table1Row(
        name,
        proxy.mse,
        proxy.mae,
        None,
        None,
        dec.accuracy,
        dec.macro_f1,
        proxy.n_papers,
        dec.n_papers,
    )


def model_row(
    name: str,
    human_ratings: Sequence[Sequence[float | None]],
    accepted: Sequence[bool],
    predicted_ratings: Sequence[float | None],
    predicted_accept: Sequence[bool | None],
    seed: int = 0,
    parse_rate: float | None = None,
    draw: Draw = "expected",
    paper_ids: Sequence[str] | None = None,
) -> Table1Row:
    """A reviewer's row: proxy errors in both modes, decision accuracy and macro F1.

    ``draw``: the n-1 target, exactly its expectation over the held-out review or one seeded
    draw per paper id (see ``cycle.reviewer.metrics``).
    """
    n1 = proxy_mse_mae(proxy_errors(human_ratings, predicted_ratings, "n-1", seed, draw, paper_ids))
    n = proxy_mse_mae(proxy_errors(human_ratings, predicted_ratings, "n", seed))
    dec = decision_metrics(accepted, predicted_accept)
    return Table1Row(
        name,
        n1.mse,
        n1.mae,
        n.mse,
        n.mae,
        dec.accuracy,
        dec.macro_f1,
        n1.n_papers,
        dec.n_papers,
        parse_rate,
        n1.skipped_no_prediction,
    )
