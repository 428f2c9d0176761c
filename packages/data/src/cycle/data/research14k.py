"""Research-14K: one row per accepted paper in the released layout (docs/formats.md §3), with the
five-message conversation, split chronologically (newest papers test)."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from cycle.data.abstracts import attach_abstracts
from cycle.data.decision import is_accept
from cycle.data.dedupe import Deduper
from cycle.data.features import RESEARCH14K
from cycle.data.outline import OutlineExtractor
from cycle.data.paper_conversation import Outline, paper_messages, split_halves
from cycle.data.problems import Problem
from cycle.data.records import Paper
from cycle.data.semantic_scholar import SemanticScholar
from cycle.data.splits import chronological_split
from cycle.data.writer import EXPORTS, RejectLog, RowSpool, TokenCounter, length_stats, save_splits


def research14k_row(paper: Paper, outline: Outline) -> dict[str, Any]:
    return {
        "paperId": paper.paper_id,
        "title": paper.title,
        "abstract": paper.abstract,
        "venue": paper.venue,
        "year": paper.year,
        "date": paper.date,
        "authors": [{"authorId": "", "name": a} for a in paper.authors],
        "arxiv": paper.paper_id,
        "references": [
            {
                "paperId": r.paper_id,
                "key": r.key,
                "title": r.title,
                "abstract": r.abstract,
                "bibtex": r.bibtex,
            }
            for r in paper.references
        ],
        "sections": [[h, b] for h, b in paper.sections],
        "figures": paper.figures,
        "train_data": outline.to_train_data(),
        "messages": paper_messages(paper, outline),
    }


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    it = iter(items)
    while batch := list(islice(it, size)):
        yield batch


def _failed(paper: Paper, kind: str, err: Exception) -> Problem:
    return Problem(kind, paper.source, paper.paper_id, f"not stored: {type(err).__name__}: {err}")


def _admit(paper: Paper, accepted_only: bool, seen: Deduper) -> tuple[list[Problem], bool]:
    """The problems that keep a parsed paper out of (or flag it in) the dataset, and whether it
    goes on to the outline step."""
    record, src = paper.paper_id, paper.source
    if reason := seen.duplicate_of(record, paper.title):
        return [Problem("duplicate", src, record, reason)], False
    if accepted_only and paper.decision and not is_accept(paper.decision):
        return [Problem("paper", src, record, f"not accepted ({paper.decision})")], False
    if not split_halves(paper.sections)[1]:
        return [Problem("paper", src, record, "cannot split into two halves")], False
    seen.add(record, paper.title)  # only now: a rejected twin must not shadow an accepted copy
    if not paper.date:
        return [Problem("paper", src, record, "no date: sorts first", dropped=False)], True
    return [], True


def _outlines(extractor: OutlineExtractor, papers: list[Paper]) -> list[tuple[Any, list[str]]]:
    """The batch's outlines; if the batch fails, paper by paper, so one paper fails alone."""
    try:
        return list(extractor.extract(papers))
    except Exception:
        results = []
        for paper in papers:
            try:
                results += list(extractor.extract([paper]))
            except Exception as err:
                results.append((None, [f"outline extraction failed: {type(err).__name__}: {err}"]))
        return results


def build_research14k(
    papers: Iterable[tuple[Paper | None, list[Problem]]],
    out_dir: str | Path,
    rejects: RejectLog,
    extractor: OutlineExtractor,
    train: int = 12696,
    test: int = 802,
    export: Sequence[str] = EXPORTS,
    count_tokens: TokenCounter | None = None,
    abstract_cache: dict[str, str] | None = None,
    semantic_scholar: SemanticScholar | None = None,
    accepted_only: bool = True,
    batch_size: int = 8,
) -> dict[str, Any]:
    """Stream papers (``batch_size`` at a time through the outline extractor) into
    ``out_dir/papers``; returns the summary."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    sources: Counter[str] = Counter()
    out_tokens: list[int] = []
    all_tokens: list[int] = []
    with tempfile.TemporaryDirectory(
        dir=out_dir.parent, prefix=".research14k.", suffix=".tmp"
    ) as work:
        spool = RowSpool(Path(work) / "rows.jsonl", RESEARCH14K)
        seen = Deduper()
        for batch in _batches(papers, batch_size):
            ready = []
            for paper, problems in batch:
                rejects.add("research14k", problems)
                if paper is None:
                    continue
                try:
                    found, keep = _admit(paper, accepted_only, seen)
                    if keep:
                        sources += attach_abstracts(
                            paper.references, abstract_cache, semantic_scholar
                        )
                except Exception as err:  # one record's failure must not stop the build
                    found, keep = [_failed(paper, "paper", err)], False
                rejects.add("research14k", found)
                if keep:
                    ready.append(paper)
            for paper, (outline, notes) in zip(ready, _outlines(extractor, ready), strict=True):
                found = [
                    Problem("outline", paper.source, paper.paper_id, n, dropped=outline is None)
                    for n in notes
                ]
                if outline is None and not found:
                    found = [Problem("outline", paper.source, paper.paper_id, "no outline")]
                rejects.add("research14k", found)
                if outline is None:
                    continue
                try:
                    row = research14k_row(paper, outline)
                    spool.add(row)
                except Exception as err:
                    rejects.add("research14k", [_failed(paper, "paper", err)])
                    continue
                if count_tokens is not None:
                    counts = [count_tokens(m["content"]) for m in row["messages"]]
                    all_tokens.append(sum(counts))
                    out_tokens.append(counts[2] + counts[4])
        ds = spool.to_dataset(Path(work) / "cache")
        splits = chronological_split(ds, train, test)
        save_splits(splits, out_dir / "papers", export)
        summary: dict[str, Any] = {
            "papers": len(ds),
            "train": len(splits["train"]),
            "test": len(splits["test"]),
            "unused": len(ds) - len(splits["train"]) - len(splits["test"]),
            "train_dates": _date_range(splits["train"]),
            "test_dates": _date_range(splits["test"]),
            "reference_abstracts": dict(sources),
            "duplicates": seen.merged,
        }
        if semantic_scholar is not None:
            summary["semantic_scholar"] = semantic_scholar.stats()
        if count_tokens is not None:
            summary["conversation_tokens"] = length_stats(all_tokens)
            summary["output_tokens"] = length_stats(out_tokens)
        del ds, splits
    return summary


def _date_range(ds: Any) -> list[str]:
    dates = [d for d in ds["date"] if d]
    return [min(dates), max(dates)] if dates else []
