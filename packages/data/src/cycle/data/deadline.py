"""Run one record's parse in a worker process with a deadline.

A thread or ``signal.alarm`` cannot stop a pathological parse: pylatexenc and ``re`` run long
stretches of C code that never return to the interpreter. A separate process can always be
killed. The worker is forked from a clean forkserver (the build process holds threads of
pyarrow and tokenizers, which ``fork`` would copy mid-lock), serves records one at a time, and
is killed and replaced when a record misses the deadline or the worker dies.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
PRELOAD = ["cycle.data.arxiv", "cycle.data.openreview", "cycle.data.openreview_export"]


class RecordTimeout(RuntimeError):
    """A record's parse missed its deadline (or killed its worker); the message is the reason."""


def _serve(conn: Connection) -> None:
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, fn(*args)))
        except Exception as err:
            conn.send((False, f"{type(err).__name__}: {err}"))


class DeadlineWorker:
    """``call(fn, *args)`` runs in a worker and returns within ``timeout_s`` or raises
    ``RecordTimeout``; ``timeout_s <= 0`` calls in this process, without a deadline."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        )
        if self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(PRELOAD)
        self._proc: Any = None
        self._conn: Connection | None = None
        self.killed = 0

    def _start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(target=_serve, args=(child,), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            self._conn.close()
        self._proc = self._conn = None

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        if self.timeout_s <= 0:
            return fn(*args)
        if self._proc is None or not self._proc.is_alive():
            self._stop()
            self._start()
        self._conn.send((fn, args))
        if not self._conn.poll(self.timeout_s):
            self._stop()
            self.killed += 1
            raise RecordTimeout(
                f"parse stopped after {self.timeout_s:g} s (data.limits.parse_timeout_s)"
            )
        try:
            ok, value = self._conn.recv()
        except EOFError:
            self._stop()
            self.killed += 1
            raise RecordTimeout("the parsing worker died (out of memory?)") from None
        if not ok:
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        if self._proc is not None:
            self._conn.close()  # the worker sees EOF and exits
            self._proc.join(timeout=5)
        self._stop()

    def __enter__(self) -> DeadlineWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
