"""Attach abstracts to references: from the bib entry, a local JSON cache, or Semantic Scholar.

The local cache is a JSON object whose keys are ``arxiv:<id>``, ``doi:<doi>`` or
``title:<normalized title>`` (lowercase letters and digits only) and whose values are abstracts.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from cycle.data.records import Reference
from cycle.data.semantic_scholar import SemanticScholar


def normalize_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", title.lower())


def cache_keys(ref: Reference) -> list[str]:
    keys = []
    if ref.arxiv:
        keys.append(f"arxiv:{ref.arxiv.lower()}")
    if ref.doi:
        keys.append(f"doi:{ref.doi.lower()}")
    if ref.title:
        keys.append(f"title:{normalize_title(ref.title)}")
    return keys


def s2_id(ref: Reference) -> str | None:
    """The id form the batch endpoint accepts, or None for title-only entries."""
    if ref.paper_id:
        return ref.paper_id
    if ref.arxiv:
        return f"ARXIV:{ref.arxiv}"
    if ref.doi:
        return f"DOI:{ref.doi}"
    return None


def load_abstract_cache(path: str | Path | None) -> dict[str, str]:
    if not path:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an abstract cache is a JSON object of key -> abstract")
    return {str(k).lower(): str(v) for k, v in data.items() if isinstance(v, str) and v.strip()}


def attach_abstracts(
    refs: Sequence[Reference],
    cache: Mapping[str, str] | None = None,
    semantic_scholar: SemanticScholar | None = None,
) -> Counter[str]:
    """Fill empty ``abstract`` fields in place; returns where each abstract came from
    (``bib``, ``cache``, ``semantic_scholar``, ``missing``)."""
    counts: Counter[str] = Counter()
    pending = []
    for ref in refs:
        if ref.abstract:
            counts["bib"] += 1
            continue
        hit = next((cache[k] for k in cache_keys(ref) if cache and k in cache), None)
        if hit:
            ref.abstract = hit
            counts["cache"] += 1
        else:
            pending.append(ref)
    if semantic_scholar is not None:
        ids = {id(ref): s2_id(ref) for ref in pending}
        found = semantic_scholar.papers([i for i in ids.values() if i])
        still = []
        for ref in pending:
            paper = found.get(ids[id(ref)] or "")
            if paper and paper.get("abstract"):
                ref.abstract = " ".join(str(paper["abstract"]).split())
                ref.paper_id = ref.paper_id or str(paper.get("paperId") or "")
                counts["semantic_scholar"] += 1
            else:
                still.append(ref)
        pending = still
    counts["missing"] += len(pending)
    return counts
