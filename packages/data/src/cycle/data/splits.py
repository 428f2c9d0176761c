"""Train/test split sizes and the split rules (seeded random, stratified, chronological).

The paper's sizes are targets: a corpus with at least ``train + test`` rows gets exactly those
sizes (rows beyond them are left out and counted as unused); a smaller corpus keeps the
paper's test fraction, ``test = round(n * test / (train + test))`` (at least 1 when n >= 2),
and trains on the rest.
"""

from __future__ import annotations

import json
from pathlib import Path

from datasets import Dataset

from cycle.core.errors import ConfigError


def split_sizes(n: int, train: int, test: int) -> tuple[int, int]:
    if train < 0 or test < 0 or train + test == 0:
        raise ValueError(f"split sizes must be non-negative and not both zero: {train}/{test}")
    if n >= train + test:
        return train, test
    n_test = round(n * test / (train + test))
    if n >= 2 and test > 0:
        n_test = min(max(n_test, 1), n - 1 if train > 0 else n)
    return n - n_test, n_test


def _rows(ds: Dataset, start: int, stop: int) -> Dataset:
    # datasets rejects an empty contiguous range that starts at len(ds)
    return ds.select(range(start, stop)) if stop > start else ds.select([])


def random_split(ds: Dataset, train: int, test: int, seed: int) -> dict[str, Dataset]:
    """Seeded shuffle; the first ``train`` rows train, the next ``test`` rows test."""
    n_train, n_test = split_sizes(len(ds), train, test)
    shuffled = ds.shuffle(seed=seed)
    return {
        "train": _rows(shuffled, 0, n_train),
        "test": _rows(shuffled, n_train, n_train + n_test),
    }


def _apportion(total: int, weights: list[int]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder; sums to ``total``)."""
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    exact = [total * w / whole for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def stratified_split(
    ds: Dataset, train: int, test: int, seed: int, column: str
) -> dict[str, Dataset]:
    """Seeded and stratified by ``column`` (e.g. ``accepted``): each value's rows are shuffled
    on their own and both splits take each value's share of their size (largest remainder), so
    a 5% reject rate is 5% of the test split too. Same rows, seed and sizes: same splits."""
    import numpy as np

    n_train, n_test = split_sizes(len(ds), train, test)
    values = ds[column]
    strata = sorted({str(v) for v in values})
    members = {s: [i for i, v in enumerate(values) if str(v) == s] for s in strata}
    sizes = [len(members[s]) for s in strata]
    tests = _apportion(n_test, sizes)
    trains = _apportion(n_train, [n - t for n, t in zip(sizes, tests, strict=True)])
    rng = np.random.default_rng(seed)
    picked: dict[str, list[int]] = {"train": [], "test": []}
    for s, n_te, n_tr in zip(strata, tests, trains, strict=True):
        order = rng.permutation(members[s]).tolist()
        picked["test"] += order[:n_te]
        picked["train"] += order[n_te : n_te + n_tr]
    return {name: ds.select(sorted(rows)) for name, rows in picked.items()}


def chronological_split(
    ds: Dataset, train: int, test: int, column: str = "date"
) -> dict[str, Dataset]:
    """Oldest to newest: the newest ``test`` rows test, the ``train`` rows just before them train
    (ties broken by the existing row order, which is stable)."""
    n_train, n_test = split_sizes(len(ds), train, test)
    ordered = ds.sort(column)
    n = len(ordered)
    return {
        "train": _rows(ordered, n - n_test - n_train, n - n_test),
        "test": _rows(ordered, n - n_test, n),
    }


def load_saved_split(path: str | Path, split: str, command: str) -> Dataset:
    """One split of a ``DatasetDict`` that ``build_data`` saved at ``path``, loaded on its own.

    ``datasets`` saves an empty split without data files and then fails to load it (an
    ``IndexError``), taking every other split of the folder down with it; loading only the split
    asked for, and naming an empty one, keeps the others usable. ``command`` builds the folder.
    A missing or empty split is a ``ConfigError``: the command prints its one line.
    """
    import datasets

    path = Path(path)
    index = path / "dataset_dict.json"
    if not index.is_file():
        raise FileNotFoundError(f"no dataset at {path}: run `{command}` first")
    names = json.loads(index.read_text())["splits"]
    if split not in names:
        raise ConfigError(f"{path} has no split '{split}' (has {', '.join(names)}): set split=")
    state = json.loads((path / split / "state.json").read_text())
    if not state.get("_data_files"):
        others = [n for n in names if n != split]
        raise ConfigError(
            f"the '{split}' split at {path} is empty: choose another with split=<name> "
            f"({', '.join(others) or 'none'} available) or build more papers with `{command}`"
        )
    return datasets.load_from_disk(str(path / split))
