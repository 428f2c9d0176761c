"""Semantic Scholar Graph API batch lookup (``POST /graph/v1/paper/batch``), cached on disk.

Off by default: a build only calls it when configured. Results (including "not found") are
kept in a SQLite file so a rerun never asks twice and memory stays flat for large corpora.
Without network, behind a broken proxy (a garbled HTTP answer) or past the retries, lookups
degrade: the first failure is logged and kept for the build summary, later batches are not
sent, and the unanswered ids count as ``failed_lookups`` (their abstracts stay missing). The HTTP call is injectable, so tests run offline with a fake.
"""

from __future__ import annotations

import http.client
import json
import logging
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
BATCH_URL = "https://api.semanticscholar.org/graph/v1/paper/batch"
MAX_BATCH = 500  # the API's limit per request

# (url, query params, headers, JSON body) -> decoded JSON response.
HttpPost = Callable[[str, dict[str, str], dict[str, str], dict[str, Any]], Any]


class RateLimited(RuntimeError):
    """HTTP 429: the caller backs off and retries."""


def urllib_post(
    url: str, params: dict[str, str], headers: dict[str, str], body: dict[str, Any]
) -> Any:
    request = urllib.request.Request(
        f"{url}?{urllib.parse.urlencode(params)}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        if err.code == 429:
            raise RateLimited(str(err)) from err
        raise


class SemanticScholar:
    """Batch paper lookup by ``ARXIV:<id>`` / ``DOI:<doi>`` / S2 ids, with a persistent cache."""

    def __init__(
        self,
        cache_dir: str | Path,
        api_key: str | None = None,
        fields: Sequence[str] = ("paperId", "title", "abstract"),
        batch_size: int = MAX_BATCH,
        min_interval_s: float = 1.0,
        max_retries: int = 5,
        http_post: HttpPost | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be in [1, {MAX_BATCH}], got {batch_size}")
        path = Path(cache_dir)
        path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path / "semantic_scholar.sqlite")
        self._db.execute("CREATE TABLE IF NOT EXISTS papers (id TEXT PRIMARY KEY, json TEXT)")
        self._headers = {"x-api-key": api_key} if api_key else {}
        self._fields = ",".join(fields)
        self._batch_size = batch_size
        self._min_interval_s = min_interval_s
        self._max_retries = max_retries
        self._post = http_post or urllib_post
        self._sleep = sleep
        self._last_call = 0.0
        self.requests = 0
        self.failed_lookups = 0
        self.unavailable: str | None = None  # why lookups stopped, once a request failed

    def _cached(self, ids: Sequence[str]) -> dict[str, dict | None]:
        found: dict[str, dict | None] = {}
        for i in range(0, len(ids), 900):  # SQLite's variable limit
            chunk = list(ids[i : i + 900])
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"SELECT id, json FROM papers WHERE id IN ({marks})", chunk
            ):
                found[key] = json.loads(blob)
        return found

    def _request(self, ids: list[str]) -> list[Any]:
        for attempt in range(self._max_retries + 1):
            wait = self._min_interval_s - (time.monotonic() - self._last_call)
            if wait > 0:
                self._sleep(wait)
            self._last_call = time.monotonic()
            try:
                self.requests += 1
                response = self._post(
                    BATCH_URL, {"fields": self._fields}, self._headers, {"ids": ids}
                )
            except RateLimited:
                if attempt == self._max_retries:
                    raise
                self._sleep(min(60.0, 2.0**attempt))
                continue
            if not isinstance(response, list) or len(response) != len(ids):
                raise ValueError(
                    f"unexpected batch response for {len(ids)} ids: {str(response)[:200]}"
                )
            return response
        raise AssertionError("unreachable")

    def papers(self, ids: Sequence[str]) -> dict[str, dict | None]:
        """id -> paper dict (the requested fields), or None when Semantic Scholar has no match."""
        unique = list(dict.fromkeys(ids))
        result = self._cached(unique)
        missing = [i for i in unique if i not in result]
        for start in range(0, len(missing), self._batch_size):
            batch = missing[start : start + self._batch_size]
            if self.unavailable is None:
                try:
                    response = self._request(batch)
                except (OSError, http.client.HTTPException, RateLimited, ValueError) as err:
                    self.unavailable = f"{type(err).__name__}: {err}"
                    log.warning(
                        "Semantic Scholar unreachable (%s): reference abstracts it would give stay "
                        "missing (offline? set data.semantic_scholar.enabled=false or use "
                        "data.abstract_cache)",
                        self.unavailable,
                    )
            if self.unavailable is not None:
                self.failed_lookups += len(batch)
                continue
            for key, paper in zip(batch, response, strict=True):
                result[key] = paper if isinstance(paper, dict) else None
                self._db.execute(
                    "INSERT OR REPLACE INTO papers VALUES (?, ?)", (key, json.dumps(result[key]))
                )
            self._db.commit()
        return result

    def stats(self) -> dict[str, int | str]:
        return {
            "requests": self.requests,
            "failed_lookups": self.failed_lookups,
            "error": self.unavailable or "",
        }

    def close(self) -> None:
        self._db.close()
