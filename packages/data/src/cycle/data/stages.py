"""``cycle build_data``: Review-5K and Research-14K from raw sources or the released datasets.

Writes ``<run>/review5k/{papers,sft}`` and ``<run>/research14k/papers`` (each ``hf/`` from
``save_to_disk`` plus per-split JSONL/parquet), ``rejected.jsonl`` (every dropped or repaired
record with its reason) and ``summary.json``; a rerun skips datasets already registered.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from cycle.core.io import atomic_write_json
from cycle.core.runs import Run
from cycle.core.schemas import ModelConfig
from cycle.data.abstracts import load_abstract_cache
from cycle.data.arxiv import iter_source_folders, load_arxiv_paper
from cycle.data.deadline import DeadlineWorker, RecordTimeout
from cycle.data.openreview import forum_folders, load_forum
from cycle.data.openreview_export import export_record_paths, load_export_paper
from cycle.data.outline import build_outline_extractor
from cycle.data.problems import Problem
from cycle.data.records import Paper
from cycle.data.released import (
    RESEARCH14K_HUB,
    REVIEW5K_HUB,
    iter_review_rows,
    load_released,
    released_messages,
    reviewed_paper_from_record,
    source_label,
)
from cycle.data.research14k import build_research14k
from cycle.data.review5k import build_review5k
from cycle.data.schemas import BuildDataConfig, DataConfig
from cycle.data.semantic_scholar import SemanticScholar
from cycle.data.writer import RejectLog, make_token_counter, save_splits

log = logging.getLogger(__name__)
DATASETS = ("review5k", "research14k")
SOURCES = ("raw", "released", "export")


def sample_dir() -> Path:
    """The bundled synthetic corpus (package data of cycle-data)."""
    return Path(str(importlib.resources.files("cycle.data") / "sample"))


def _research_papers(
    data: DataConfig, worker: DeadlineWorker
) -> Iterator[tuple[Paper | None, list]]:
    root = Path(data.arxiv_dir) if data.arxiv_dir else sample_dir() / "arxiv"
    for folder in islice(iter_source_folders(root), data.max_papers):
        try:
            yield worker.call(
                load_arxiv_paper, folder, data.only_cited, data.keep_appendix, data.limits, root
            )
        except (RecordTimeout, RuntimeError) as err:
            yield None, [Problem("paper", str(folder), folder.name, str(err))]


def _export_papers(data: DataConfig, worker: DeadlineWorker) -> Iterator[tuple[Any, list]]:
    if not data.export_dir:
        raise ValueError("data.source=export needs data.export_dir=<folder with reviews/<id>.json>")
    for path in islice(export_record_paths(data.export_dir), data.max_papers):
        try:
            yield worker.call(
                load_export_paper,
                path,
                data.export_dir,
                data.openreview_export,
                data.min_reviews,
                data.keep_appendix,
                data.limits,
            )
        except (RecordTimeout, RuntimeError) as err:
            yield None, [Problem("paper", str(path), path.stem, str(err))]


def _raw_review_count(data: DataConfig) -> int | None:
    """How many records a raw or export Review-5K build reads (for its progress bar)."""
    if data.source == "export" and data.export_dir:
        n = len(export_record_paths(data.export_dir))
    elif data.source == "raw":
        n = len(forum_folders(data.openreview_dir or sample_dir() / "openreview"))
    else:
        return None
    return n if data.max_papers is None else min(n, data.max_papers)


def _reviewed_papers(data: DataConfig, worker: DeadlineWorker) -> Iterator[tuple[Any, list]]:
    if data.source == "export":
        yield from _export_papers(data, worker)
        return
    if data.source == "released":
        source = data.review5k_id or REVIEW5K_HUB
        for split, row in iter_review_rows(source):
            where = f"{source_label(source)}:{split}"
            record = str(row.get("id") or "?") if isinstance(row, dict) else "?"
            try:
                if isinstance(row, Exception):
                    raise RuntimeError(str(row))
                yield worker.call(reviewed_paper_from_record, row, where)
            except RuntimeError as err:  # RecordTimeout included
                yield None, [Problem("forum", where, record, str(err))]
        return
    root = Path(data.openreview_dir) if data.openreview_dir else sample_dir() / "openreview"
    for folder in islice(forum_folders(root), data.max_papers):
        try:
            yield worker.call(
                load_forum, folder, data.min_reviews, data.limits, root, data.keep_appendix
            )
        except (RecordTimeout, RuntimeError) as err:
            yield None, [Problem("forum", str(folder), folder.name, str(err))]


def _checked_messages(ds: Any, where: str, rejects: RejectLog) -> Any:
    """``ds`` without the rows whose ``messages`` cannot be a conversation (each rejected with
    its reason); a column of JSON strings is decoded (each row reported as repaired)."""
    if "messages" not in ds.column_names:
        raise ValueError(f"{where}: the released Research-14K rows have no 'messages' column")
    ids = ds["paperId"] if "paperId" in ds.column_names else [str(i) for i in range(len(ds))]
    keep, decoded = [], {}
    for i, row in enumerate(ds.select_columns(["messages"])):
        try:
            messages, was_string = released_messages(row["messages"])
        except ValueError as err:
            rejects.add("research14k", [Problem("paper", where, str(ids[i]), str(err))])
            continue
        keep.append(i)
        if was_string:
            decoded[len(keep) - 1] = messages
            note = "messages decoded from a JSON string"
            rejects.add("research14k", [Problem("paper", where, str(ids[i]), note, dropped=False)])
    if len(keep) < len(ds):
        ds = ds.select(keep)
    if decoded:
        ds = ds.map(lambda _, i: {"messages": decoded[i]}, with_indices=True)
    return ds


def _import_research14k(data: DataConfig, out_dir: Path, rejects: RejectLog) -> dict[str, Any]:
    """Released Research-14K rows are already in the target layout: saved as released, once
    each row's conversation is checked (``_checked_messages``)."""
    import datasets

    source = data.research14k_id or RESEARCH14K_HUB
    loaded = load_released(source)
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"train": loaded}
    splits = {
        name: _checked_messages(ds, f"{source_label(source)}:{name}", rejects)
        for name, ds in splits.items()
    }
    save_splits(splits, out_dir / "papers", data.export)
    return {name: len(ds) for name, ds in splits.items()}


def _outline_extractor(cfg: BuildDataConfig, worker: DeadlineWorker) -> Any:
    outline = cfg.data.outline
    if outline.method != "llm":
        return build_outline_extractor(outline, worker=worker)
    from cycle.core.generation.factory import build_generator

    return build_outline_extractor(outline, build_generator(cfg.backend, cfg.model), cfg.sampling)


def _semantic_scholar(cfg: BuildDataConfig) -> SemanticScholar | None:
    s2 = cfg.data.semantic_scholar
    if not s2.enabled:
        return None
    return SemanticScholar(
        Path(cfg.paths.cache_dir) / "semantic_scholar",
        api_key=os.environ.get(s2.api_key_env),
        batch_size=s2.batch_size,
        min_interval_s=s2.min_interval_s,
    )


def _stats_tokenizer(model: ModelConfig) -> Any:
    """The tokenizer for the length statistics. A tiny model that is not cached yet gets only its
    tokenizer trained (the same one ``load_tokenizer`` would save with the model): building and
    saving the random model is the slowest part of a sample build and counting needs none of it.
    """
    from cycle.core.models import build_tiny_tokenizer, load_tokenizer, tiny_model_dir

    tiny = model.name_or_path is None and model.tiny is not None
    if tiny and not (tiny_model_dir(model) / "config.json").exists():
        return build_tiny_tokenizer(model.tiny)
    return load_tokenizer(model)


def build_data(cfg: BuildDataConfig, run: Run) -> dict[str, Any]:
    data = cfg.data
    if data.source not in SOURCES:
        raise ValueError(f"data.source must be one of {SOURCES}, got {data.source!r}")
    if data.source == "export" and "research14k" in data.build:
        raise ValueError("an OpenReview export holds reviews only: set data.build=[review5k]")
    todo = [name for name in data.build if not run.has(name)]
    unknown = set(data.build) - set(DATASETS)
    if unknown:
        raise ValueError(f"data.build: unknown datasets {sorted(unknown)} (choose from {DATASETS})")
    rejects = RejectLog(run.path("rejected.jsonl"))
    for name in todo:  # a rerun rebuilds these: their earlier rejects would be listed twice
        rejects.forget(name)
    tokenizer = _stats_tokenizer(cfg.model) if cfg.token_stats and todo else None
    count = make_token_counter(tokenizer)

    summary: dict[str, Any] = {
        "data": data.name,
        "source": data.source,
        "token_unit": "tokens" if tokenizer else "words",
    }
    worker = DeadlineWorker(data.limits.parse_timeout_s)
    try:
        if "review5k" in todo:
            split = data.review5k_split
            summary["review5k"] = build_review5k(
                _reviewed_papers(data, worker),
                run.dir / "review5k",
                rejects,
                train=split.train,
                test=split.test,
                seed=cfg.seed,
                variant=data.reviewer_variant,
                export=data.export,
                count_tokens=count,
                stratify=split.stratify,
                progress=True,
                total=_raw_review_count(data),
            )
            run.add_artifact("review5k", run.dir / "review5k", **summary["review5k"])
        if "research14k" in todo and data.source == "released":
            summary["research14k"] = _import_research14k(data, run.dir / "research14k", rejects)
            run.add_artifact("research14k", run.dir / "research14k", **summary["research14k"])
        elif "research14k" in todo:
            split = data.research14k_split
            s2 = _semantic_scholar(cfg)
            summary["research14k"] = build_research14k(
                _research_papers(data, worker),
                run.dir / "research14k",
                rejects,
                _outline_extractor(cfg, worker),
                train=split.train,
                test=split.test,
                export=data.export,
                count_tokens=count,
                abstract_cache=load_abstract_cache(data.abstract_cache),
                semantic_scholar=s2,
                accepted_only=data.accepted_only,
                batch_size=data.outline.batch_size,
            )
            if s2 is not None:
                s2.close()
            run.add_artifact("research14k", run.dir / "research14k", **summary["research14k"])
    finally:
        worker.close()
    for name in DATASETS:  # in a fixed order: a resumed build writes the same summary
        if name in summary:
            summary[name] = summary.pop(name)
        elif name in data.build and name in run.artifacts:
            summary[name] = run.artifact_meta(name)  # what an interrupted run recorded
    if rejects.path.exists() and (todo or not run.has("rejected")):
        rejects.repair()  # a torn last line would change the hash on every rerun
        run.add_artifact("rejected", rejects.path)
    dropped, kept = rejects.tally()
    summary["rejected"], summary["repaired"] = dict(dropped), dict(kept)
    run.rejected = dict(dropped)
    if todo:
        atomic_write_json(run.dir / "summary.json", summary)
        run.add_artifact("summary", run.dir / "summary.json")
    run.write_manifest()
    text = _yaml(summary)
    log.info("build_data summary:\n%s", text)
    print(text)
    return _flatten(summary)


def _yaml(tree: dict[str, Any]) -> str:
    """The summary as YAML, in its own key order."""
    import yaml

    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}/"))
        elif isinstance(value, (int, float, str, bool)):
            flat[name] = value
    return flat
