"""The one way builders read a source file: inside its source root, a regular file, bounded.

A raw corpus is input we did not write: a ``.tex`` may be a symlink to ``/etc/passwd`` or to
``/dev/zero``, a FIFO that blocks any reader, a hard link to a file outside, or
``\\bibliography{../../secret}``. Every file a builder opens goes through ``SourceRoot``: the
path is resolved (symlinks followed) and must stay inside the root, be a regular file with one
link and fit the size limits; otherwise ``UnsafeFile`` says why, and the builder turns that
into a rejected record.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MB = 1 << 20
DEFAULT_MAX_FILE_BYTES = 16 * MB
DEFAULT_MAX_RECORD_BYTES = 64 * MB


class UnsafeFile(ValueError):
    """A file a builder refuses to read; the message is the reason recorded for it."""


@dataclass
class SourceRoot:
    """The folder one record may read from, with per-file and per-record byte budgets."""

    root: Path
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    bytes_read: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()

    @classmethod
    def for_record(
        cls, folder: str | os.PathLike, data_root: str | os.PathLike | None = None, **limits: int
    ) -> SourceRoot:
        """The root of one record's folder; with ``data_root``, the folder must lie inside it."""
        if data_root is None:
            return cls(Path(folder), **limits)
        return cls(Path(data_root), **limits).within(folder)

    def within(self, folder: str | os.PathLike) -> SourceRoot:
        """A root for one record's folder, checked to lie inside this root, with the same limits."""
        resolved = Path(folder).resolve()
        if not resolved.is_relative_to(self.root):
            raise UnsafeFile(
                f"{folder} resolves to {resolved}, outside the source folder {self.root}"
            )
        return SourceRoot(resolved, self.max_file_bytes, self.max_record_bytes)

    def name(self, path: Path) -> str:
        """``path`` relative to the root when inside it (for messages)."""
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)

    def check(self, path: str | os.PathLike) -> Path:
        """The resolved path, if it may be read; ``UnsafeFile`` otherwise."""
        given = Path(path)
        if not given.is_absolute():
            given = self.root / given
        try:
            resolved = given.resolve(strict=True)
        except (OSError, RuntimeError) as err:  # missing, dangling link, symlink loop
            raise UnsafeFile(f"{given.name}: cannot resolve ({type(err).__name__})") from None
        if not resolved.is_relative_to(self.root):
            raise UnsafeFile(f"{self.name(given)}: resolves outside the source folder")
        self._check_stat(resolved, os.stat(resolved))
        return resolved

    def _check_stat(self, path: Path, st: os.stat_result) -> None:
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile(f"{self.name(path)}: not a regular file")
        if st.st_nlink > 1:  # the other name may lie anywhere on the file system
            raise UnsafeFile(
                f"{self.name(path)}: a hard-linked file ({st.st_nlink} links): copy it instead"
            )
        if st.st_size > self.max_file_bytes:
            raise UnsafeFile(
                f"{self.name(path)}: {st.st_size} bytes, over the {self.max_file_bytes}-byte "
                "file limit (data.limits.max_file_mb)"
            )
        if self.bytes_read + st.st_size > self.max_record_bytes:
            raise UnsafeFile(
                f"{self.name(path)}: the record's files exceed {self.max_record_bytes} bytes "
                "(data.limits.max_record_mb)"
            )

    def read_bytes(self, path: str | os.PathLike) -> bytes:
        resolved = self.check(path)
        # O_NONBLOCK: were the file swapped for a FIFO after the check, open would not block.
        fd = os.open(resolved, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            self._check_stat(resolved, os.fstat(f.fileno()))
            data = f.read(self.max_file_bytes + 1)
        if len(data) > self.max_file_bytes:
            raise UnsafeFile(f"{self.name(resolved)}: grew past the file limit while read")
        self.bytes_read += len(data)
        return data

    def read_text(self, path: str | os.PathLike) -> str:
        """UTF-8, falling back to Latin-1 (old arXiv sources)."""
        data = self.read_bytes(path)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")

    def read_json(self, path: str | os.PathLike) -> Any:
        return json.loads(self.read_bytes(path).decode("utf-8"))

    def files(self, pattern: str) -> list[Path]:
        """Files under the root matching ``pattern`` (rglob), sorted; symlinked folders are
        not descended into (their files are checked on reading like any other)."""
        found = []
        for parent, dirs, names in os.walk(self.root):
            dirs.sort()
            found += [Path(parent, n) for n in names if Path(n).match(pattern)]
        return sorted(found)
