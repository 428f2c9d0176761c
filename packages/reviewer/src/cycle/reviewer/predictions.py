"""Stored reviewer outputs and the human reviews they are scored against (``cycle
evaluate_reviewer predictions=<file>``), so Table 1 needs no model run.

Predictions: JSONL, one output per line, ``{"id": <paper id>, "text": <generated review>}``
(``paper_id`` may stand for ``id``; ``output`` / ``prediction`` / ``review`` for ``text``). The
text is any layout ``parse_review`` reads: CycleReviewer variant A or B, or DeepReviewer in any
mode. Several lines with one id are that paper's k samples. ``"finish_reason": "length"`` or
``"truncated": true`` marks an output cut by its token limit (a rating it ends in is not used).
A DeepReviewer output that ends inside ``\\boxed_simreviewers`` gives no rating, flagged or not:
it counts against the parse rate instead of being scored by the reviewers that finished.

Human side: the Review-5K split ``build_data`` wrote (default), or ``gold=<file>`` holding review
records in the released / OpenReview layout (``id``, ``decision``, ``review: [{rating, content:
{rating: "6: ...", ...}}]``; content fields may be wrapped as ``{"value": ...}``), read by
``cycle.data.released.reviewed_paper_from_record``. Scoring needs no paper text, so none is
read (its columns are dropped first); a record that cannot be read is rejected with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ID_KEYS = ("id", "paper_id")
TEXT_KEYS = ("text", "output", "prediction", "review")
# Paper-text columns of a gold record (``reviewed_paper_from_record`` reads the first present).
PAPER_TEXT_KEYS = ("paper_context", "paper_text", "text")


@dataclass
class Predictions:
    """Per paper id, the output texts and whether each was truncated; unreadable lines."""

    texts: dict[str, list[str]] = field(default_factory=dict)
    truncated: dict[str, list[bool]] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((row[k] for k in keys if row.get(k) not in (None, "")), None)


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions JSONL file; a line without an id or a text is rejected with a reason."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"predictions={path}: no such file (a JSONL of {{id, text}} rows)")
    out = Predictions()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = {"source": str(path), "line": number}
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                out.rejected.append({**where, "reason": f"invalid JSON: {err.msg}"})
                continue
            if not isinstance(row, dict):
                out.rejected.append({**where, "reason": "not a JSON object"})
                continue
            pid, text = _first(row, ID_KEYS), _first(row, TEXT_KEYS)
            if pid is None or not isinstance(text, str):
                missing = "an id (id / paper_id)" if pid is None else "a text (text / output)"
                out.rejected.append({**where, "reason": f"no {missing}"})
                continue
            cut = bool(row.get("truncated")) or row.get("finish_reason") == "length"
            out.texts.setdefault(str(pid), []).append(text)
            out.truncated.setdefault(str(pid), []).append(cut)
    return out


@dataclass
class HumanReviews:
    """The papers to score: ids, human ratings and whether each was accepted."""

    ids: list[str]
    ratings: list[list[float | None]]
    accepted: list[bool]
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _gold_rows(source: str, split: str) -> list[dict[str, Any]] | Any:
    """Rows of a gold source. JSON / JSONL files are read as plain JSON: OpenReview content
    mixes value types across records (``"6: ..."`` strings, ints, ``{"value": ...}``), which an
    Arrow schema cannot hold. Anything else (parquet, a saved dataset, a hub id) goes through
    ``load_released``."""
    path = Path(source)
    if path.suffix == ".jsonl" and path.is_file():
        from cycle.core.io import read_jsonl

        return read_jsonl(path)
    if path.suffix == ".json" and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, list) else [data]
    import datasets

    from cycle.data.released import load_released

    loaded = load_released(source)
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise KeyError(f"gold={source} has no split '{split}' (has {', '.join(loaded)})")
        loaded = loaded[split]
    return loaded


def load_gold(source: str, split: str) -> HumanReviews:
    """Human reviews from a released / OpenReview-style review file (see module docstring)."""
    from cycle.data.released import reviewed_paper_from_record

    out = HumanReviews([], [], [])
    for number, row in enumerate(_gold_rows(source, split), start=1):
        if not isinstance(row, dict):
            out.rejected.append(
                {"source": source, "id": f"row {number}", "reason": "not a JSON object"}
            )
            continue
        # Scoring needs the reviews and the decision only: the paper text is never parsed.
        row = {k: v for k, v in row.items() if k not in PAPER_TEXT_KEYS}
        try:
            paper, problems = reviewed_paper_from_record(row, source=source, require_text=False)
        except Exception as err:  # one malformed record is that record's rejection
            record = row.get("id") or row.get("paper_id") or f"row {number}"
            reason = f"unreadable record: {type(err).__name__}: {str(err)[:200]}"
            out.rejected.append({"source": source, "id": str(record), "reason": reason})
            continue
        out.rejected += [
            {"source": source, "id": p.record, "reason": p.reason} for p in problems if p.dropped
        ]
        if paper is None:
            continue
        if not paper.decision:
            out.rejected.append(
                {"source": source, "id": paper.paper.paper_id, "reason": "no decision"}
            )
            continue
        out.ids.append(paper.paper.paper_id)
        out.ratings.append(list(paper.ratings))
        out.accepted.append(paper.accepted)
    return out
