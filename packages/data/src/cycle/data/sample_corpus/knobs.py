"""Latent quality knobs of a paper and the 'true' rating they add up to."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Knobs:
    """Per-paper latent quality; every field is visible in the generated paper text."""

    n_datasets: int  # datasets in the main table (1-5)
    n_baselines: int  # baselines in the main table (1-7)
    n_extra_tables: int  # efficiency / sensitivity tables beyond the main (and ablation) table
    ablation: bool  # an ablation section with its own table
    n_citations: int  # distinct \cite keys == .bib entries (8-45)
    n_seeds: int  # 1, 3 or 5 runs per number
    error_bars: bool  # standard deviations in the tables (only with n_seeds > 1)
    clarity: int  # 1-4: contributions list, defined notation, vague filler sentences
    novelty: int  # 1-4: "a direct combination of X and Y" vs "a new formulation"
    limitations: bool  # a limitations paragraph / section
    code: bool  # a code-availability statement


def draw_knobs(rng: random.Random) -> Knobs:
    n_seeds = rng.choices((1, 3, 5), weights=(4, 4, 2))[0]
    return Knobs(
        n_datasets=rng.choices((1, 2, 3, 4, 5), weights=(2, 3, 3, 2, 1))[0],
        n_baselines=rng.choices((1, 2, 3, 4, 5, 6, 7), weights=(1, 2, 3, 3, 2, 2, 1))[0],
        n_extra_tables=rng.choices((0, 1, 2), weights=(4, 4, 2))[0],
        ablation=rng.random() < 0.55,
        n_citations=rng.randint(8, 45),
        n_seeds=n_seeds,
        error_bars=n_seeds > 1 and rng.random() < 0.65,
        clarity=rng.choices((1, 2, 3, 4), weights=(1, 3, 4, 2))[0],
        novelty=rng.choices((1, 2, 3, 4), weights=(1, 3, 4, 2))[0],
        limitations=rng.random() < 0.5,
        code=rng.random() < 0.5,
    )


def quality(k: Knobs) -> float:
    """The paper's 'true' rating on the 1-10 scale, before reviewer noise."""
    s = (
        0.45 * (k.n_datasets - 1)
        + 0.25 * (k.n_baselines - 1)
        + 0.2 * k.n_extra_tables
        + 1.0 * k.ablation
        + 0.02 * (k.n_citations - 8)
        + {1: 0.0, 3: 0.4, 5: 0.6}[k.n_seeds]
        + 0.5 * k.error_bars
        + 0.5 * (k.clarity - 1)
        + 0.6 * (k.novelty - 1)
        + 0.3 * k.limitations
        + 0.2 * k.code
    )
    return 1.3 + 0.8 * s


def accepted_knobs(rng: random.Random, threshold: float = 5.6) -> Knobs:
    """Knobs of an accepted paper: Research-14K is built from accepted papers."""
    while True:
        k = draw_knobs(rng)
        if quality(k) >= threshold:
            return k
