"""Streaming dataset output: rows spooled to JSONL, turned into an Arrow-backed ``Dataset`` with
fixed features, split, and written atomically (``save_to_disk`` + JSONL/parquet exports);
rejected records appended to ``rejected.jsonl`` as they are found."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Dataset, DatasetDict, Features

from cycle.core.io import append_jsonl, atomic_dir, atomic_write_jsonl, read_jsonl, sha256_file
from cycle.data.problems import Problem

EXPORTS = ("jsonl", "parquet")
# Rows per Arrow write, JSONL batch and parquet row group. ``datasets`` defaults to 1,000 rows
# (or 100 MB row groups), which holds up to 1,000 whole papers in Python objects (in pandas, for
# JSONL) at once: memory would grow with the corpus up to that size.
BATCH_ROWS = 64


class RejectLog:
    """Appends each problem (with the dataset it belongs to) to a JSONL file and counts reasons."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dropped: Counter[str] = Counter()
        self.kept: Counter[str] = Counter()

    def add(self, dataset: str, problems: Sequence[Problem]) -> None:
        for problem in problems:
            append_jsonl(self.path, {"dataset": dataset, **problem.to_row()})
            counter = self.dropped if problem.dropped else self.kept
            counter[f"{dataset}/{problem.kind}"] += 1

    def forget(self, dataset: str) -> None:
        """Drop ``dataset``'s lines (before it is rebuilt), keeping the other datasets'."""
        if self.path.exists():
            rows = read_jsonl(self.path)
            atomic_write_jsonl(self.path, [r for r in rows if r.get("dataset") != dataset])

    def repair(self) -> None:
        """Rewrite the file without a torn last line (a kill mid-append)."""
        atomic_write_jsonl(self.path, read_jsonl(self.path))

    def tally(self) -> tuple[Counter[str], Counter[str]]:
        """(dropped, repaired) counts per ``dataset/kind`` over the whole file, earlier runs'
        datasets included."""
        dropped: Counter[str] = Counter()
        kept: Counter[str] = Counter()
        for row in read_jsonl(self.path) if self.path.exists() else []:
            (dropped if row.get("dropped", True) else kept)[f"{row['dataset']}/{row['kind']}"] += 1
        return dropped, kept


class InvalidRow(ValueError):
    """A row the dataset's features cannot store; the message names the column."""


def check_row(row: dict[str, Any], schema: pa.Schema) -> None:
    """Cast one row to the dataset's Arrow schema now, so a bad value rejects its record instead
    of failing the Arrow write after the whole corpus was parsed."""
    missing = [name for name in schema.names if name not in row]
    if missing:
        raise InvalidRow(f"missing columns {missing}")
    for name in schema.names:
        try:
            pa.array([row[name]], type=schema.field(name).type)
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as err:
            raise InvalidRow(
                f"column {name!r} cannot be stored: {type(err).__name__}: {err}"
            ) from None


class RowSpool:
    """Rows written one at a time to a JSONL file (memory stays flat), then read as a Dataset."""

    def __init__(self, path: Path, features: Features) -> None:
        self.path = path
        self.features = features
        self._schema = features.arrow_schema
        self.count = 0
        self._file = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in to_dataset)

    def add(self, row: dict[str, Any]) -> None:
        """Append a row; ``InvalidRow`` (nothing written) when the features cannot hold it."""
        check_row(row, self._schema)
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1

    def to_dataset(self, cache_dir: Path) -> Dataset:
        features = self.features
        self._file.close()
        if self.count == 0:
            return Dataset.from_dict({k: [] for k in features}, features=features)
        # Not Dataset.from_json: pyarrow's JSON reader infers types (a "2024-01-02" string
        # becomes a timestamp) before the features cast; a generator keeps the values as given.
        return Dataset.from_generator(
            _read_rows,
            features=features,
            gen_kwargs={"path": str(self.path)},
            cache_dir=str(cache_dir),
            # from the rows, not the (random) spool path: identical builds, identical files
            fingerprint=sha256_file(self.path)[:16],
            writer_batch_size=BATCH_ROWS,
        )


def _read_rows(path: str) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def save_splits(
    splits: dict[str, Dataset], out_dir: str | Path, export: Sequence[str] = EXPORTS
) -> Path:
    """``out_dir/hf`` (``DatasetDict.save_to_disk``) and ``out_dir/<split>.<fmt>``, all or nothing."""
    unknown = set(export) - set(EXPORTS)
    if unknown:
        raise ValueError(f"unknown export formats {sorted(unknown)} (choose from {EXPORTS})")
    with atomic_dir(out_dir) as tmp:
        DatasetDict(splits).save_to_disk(str(tmp / "hf"))
        for name, ds in splits.items():
            if "jsonl" in export:
                ds.to_json(
                    str(tmp / f"{name}.jsonl"),
                    batch_size=BATCH_ROWS,
                    lines=True,
                    force_ascii=False,
                )
            if "parquet" in export:
                ds.to_parquet(str(tmp / f"{name}.parquet"), batch_size=BATCH_ROWS)
    return Path(out_dir)


def length_stats(values: Sequence[int]) -> dict[str, float]:
    """mean / median / p95 / max of a list of lengths (zeros when empty)."""
    if not values:
        return {"mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    return {
        "mean": round(statistics.fmean(ordered), 1),
        "median": float(statistics.median(ordered)),
        "p95": float(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]),
        "max": float(ordered[-1]),
    }


TokenCounter = Callable[[str], int]


def make_token_counter(tokenizer: Any | None) -> TokenCounter:
    """Token count with a tokenizer, else whitespace-separated words (stats say which)."""
    if tokenizer is None:
        return lambda text: len(text.split())
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])
