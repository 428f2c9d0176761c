"""Duplicate records: the same id, or the same title once normalised (``normalize_title``).

Raw dumps repeat papers (a forum crawled twice, an arXiv id under two folders, a renamed
resubmission); kept twice, one copy can land in train and the other in test. The first record
seen wins; later ones are rejected with the record they duplicate.
"""

from __future__ import annotations

from cycle.data.abstracts import normalize_title


class Deduper:
    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._titles: dict[str, str] = {}
        self.merged = 0

    def duplicate_of(self, record_id: str, title: str) -> str | None:
        """Why this record is a duplicate, or None (and it is remembered as seen)."""
        key = normalize_title(title)
        if record_id in self._ids:
            reason = f"duplicate of {record_id} (same id)"
        elif key and key in self._titles:
            reason = f"duplicate of {self._titles[key]} (same normalised title)"
        else:
            self._ids.add(record_id)
            if key:
                self._titles[key] = record_id
            return None
        self.merged += 1
        return reason
