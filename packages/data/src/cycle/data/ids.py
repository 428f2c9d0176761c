"""Record ids and dates from raw metadata, checked before they name a file or order a split.

An id (``metadata.json`` ``arxiv``, a folder name, an OpenReview ``forum``, a released row's
``id``) becomes a file name downstream (``cycle.core.io.file_stem``), so it must be short, printable
ASCII of a known set, and start with a letter or digit: arXiv (``2401.12345v2``,
``cs.LG/0112017``), OpenReview (``aBc_-12XyZ``) and PeerRead ids all fit. A date orders the
chronological split, so it must be a real calendar date and not in the future (a
``2099-12-31`` would force its record into the test split).
"""

from __future__ import annotations

import datetime
import re

MAX_ID_CHARS = 128
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#+=~-]*")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_ARXIV_VERSION = re.compile(r"^((?:\d{4}\.\d{4,5})|(?:[a-z-]+(?:\.[A-Za-z-]+)?/\d{7}))v\d+$")
MIN_YEAR = 1900


def check_record_id(value: object, what: str = "id") -> str:
    """``value`` if it can name a record (and its files); ``ValueError`` saying why not."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{what} is empty")
    if len(value) > MAX_ID_CHARS:
        raise ValueError(f"{what} has {len(value)} characters, over {MAX_ID_CHARS}")
    if not _ID.fullmatch(value):
        bad = next((c for c in value if not _ID.fullmatch("a" + c)), None)
        where = f"holds {ascii(bad)}" if bad else f"starts with {ascii(value[0])}"
        raise ValueError(
            f"{what} {ascii(value[:40])} {where}: ids are ASCII letters, digits and ._:/#+=~- "
            "(starting with a letter or digit)"
        )
    return value


def is_safe_path_part(value: object) -> bool:
    """True when ``value`` is a valid id that is also a single path component (no ``/``)."""
    try:
        return "/" not in check_record_id(value)
    except ValueError:
        return False


def arxiv_base_id(record_id: str) -> str:
    """The arXiv id without its version (``2401.12345v2`` -> ``2401.12345``); other ids as given."""
    match = _ARXIV_VERSION.match(record_id)
    return match.group(1) if match else record_id


def check_date(value: str, today: datetime.date | None = None) -> str:
    """``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` naming a real date from 1900 up to ``today``;
    ``ValueError`` saying why not."""
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    match = _DATE.fullmatch(value)
    if not match:
        raise ValueError(f"date must be YYYY-MM-DD, got {ascii(value[:40])}")
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        first = datetime.date(year, month, day)
    except ValueError as err:
        raise ValueError(f"date {value} is not a calendar date ({err})") from None
    if year < MIN_YEAR or first > today:
        raise ValueError(f"date {value} is outside {MIN_YEAR}..{today.isoformat()}")
    return value
