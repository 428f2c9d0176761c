"""Atomic artifact writes and content hashes.

Every artifact is written to a temporary sibling and renamed into place, so a killed process
leaves either the old artifact or the new one, never half of one. The temporaries are hidden
names ending in ``.tmp`` (``.old`` for a directory being replaced); ``remove_temp_leftovers``
deletes what a kill left behind. Artifacts get the process umask's permissions (``mkstemp``
alone would make them 0600).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
TEMP_SUFFIXES = (".tmp", ".old")


def _is_temp(rel: Path) -> bool:
    return any(part.startswith(".") and part.endswith(TEMP_SUFFIXES) for part in rel.parts)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _umask_mode(path: Path, directory: bool = False) -> None:
    """Give a ``mkstemp``/``mkdtemp`` path the mode a plain ``open``/``mkdir`` would have."""
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def _tmp_sibling(path: Path, suffix: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


def file_stem(record_id: str) -> str:
    """The file name a record id is written under (ids such as ``cs/0112017#0`` hold slashes)."""
    return record_id.replace("/", "_")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    tmp = _tmp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _umask_mode(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Render a matplotlib figure (format from the suffix, png by default), write it atomically
    and close it."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format=Path(path).suffix.lstrip(".") or "png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_bytes(obj: Any, indent: int | None = None) -> bytes:
    """``obj`` as UTF-8 JSON, losslessly even when a string holds lone surrogates (an
    undecodable file name read with ``surrogateescape``, a ``"\\ud800"`` in a JSON input):
    they are written as ``\\udcff`` escapes, which ``json.loads`` reads back as the same string.
    Only strings can hold them, so the escapes always land inside JSON strings."""
    text = json.dumps(obj, indent=indent, ensure_ascii=False, default=str)
    return text.encode("utf-8", errors="backslashreplace")


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> Path:
    return atomic_write_bytes(path, json_bytes(obj, indent) + b"\n")


def atomic_write_jsonl(path: str | os.PathLike, rows: Iterable[Any]) -> Path:
    return atomic_write_bytes(path, b"".join(json_bytes(r) + b"\n" for r in rows))


def read_jsonl(path: str | os.PathLike) -> list[Any]:
    """Read a JSONL file. A torn last line (a kill mid-append) is skipped with a warning; an
    unreadable line before the last one is corruption and raises, naming the line."""
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            if number < len(lines):
                raise ValueError(f"{path}:{number}: not a JSON line ({err.msg})") from err
            log.warning("%s: skipped a torn last line (%d chars)", path, len(line))
    return rows


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line without its newline (a killed append), so the next row starts a line."""
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        keep, pos = 0, size
        while pos > 0 and not keep:
            step = min(1 << 16, pos)
            pos -= step
            f.seek(pos)
            block = f.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                keep = pos + cut + 1
        log.warning("%s: dropped a torn last line (%d bytes)", path, size - keep)
        f.truncate(keep)


def append_jsonl(path: str | os.PathLike, row: Any) -> None:
    """Append one row and fsync: used for incremental outputs that a rerun resumes from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _drop_torn_tail(path)
    with open(path, "ab") as f:
        f.write(json_bytes(row) + b"\n")
        f.flush()
        os.fsync(f.fileno())


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory that replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    _umask_mode(tmp, directory=True)
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_path(path: str | os.PathLike) -> str:
    """Hash of a file, or of a directory's relative paths and file contents (temporaries a
    writer may have open inside it left out)."""
    path = Path(path)
    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for p in sorted(
        q for q in path.rglob("*") if q.is_file() and not _is_temp(q.relative_to(path))
    ):
        h.update(str(p.relative_to(path)).encode())
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def stat_fingerprint(path: str | os.PathLike) -> str:
    """A cheap stand-in for ``sha256_path``: the relative paths, sizes and modification times of
    a file or a directory's files. Equal fingerprints are trusted without reading the content."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(q for q in path.rglob("*") if q.is_file())
    h = hashlib.sha256()
    for p in files:
        if p != path and _is_temp(p.relative_to(path)):
            continue
        st = p.stat()
        h.update(
            f"{p.relative_to(path) if p != path else ''}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
        )
    return h.hexdigest()


def remove_temp_leftovers(root: str | os.PathLike) -> list[Path]:
    """Delete the hidden temporaries (``.*.tmp``, ``.*.old``) a killed process left under
    ``root``; returns what was removed. Symlinks are removed, never followed. Only call this
    while no other process writes under ``root`` (the run lock guarantees it)."""
    removed = []
    for parent, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            if _is_temp(Path(name)):
                path = Path(parent, name)
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
        dirs[:] = [d for d in dirs if not _is_temp(Path(d))]
    if removed:
        log.warning(
            "removed %d temporary leftover(s) of an interrupted run under %s", len(removed), root
        )
    return removed
