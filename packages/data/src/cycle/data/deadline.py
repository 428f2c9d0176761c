"""Run one record's parse in a worker process with a deadline.

A thread or ``signal.alarm`` cannot stop a pathological parse: pylatexenc and ``re`` run long
stretches of C code that never return to the interpreter. A separate process can always be
killed. The worker is forked from a clean forkserver (the build process holds threads of
pyarrow and tokenizers, which ``fork`` would copy mid-lock), serves records one at a time, and
is killed and replaced when a record misses the deadline or the worker dies.

The worker does not rely on its parent to end it. It asks the kernel for ``SIGKILL`` when its
parent (the forkserver, which exits with the build) dies (Linux ``PR_SET_PDEATHSIG``), and it
arms an alarm with the default action, which ends the process even inside C code, a grace
period after each record's deadline: a build that was killed leaves no worker parsing behind.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
PRELOAD = [
    "cycle.data.arxiv",
    "cycle.data.openreview",
    "cycle.data.openreview_export",
    "cycle.data.outline",
    "cycle.data.released",
]
GRACE_S = 2.0  # the worker's own alarm fires this long after the parent's deadline
_PR_SET_PDEATHSIG = 1


class RecordTimeout(RuntimeError):
    """A record's parse missed its deadline (or killed its worker); the message is the reason."""


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent, the forkserver, dies (Linux only;
    elsewhere the alarm in ``_serve`` still bounds it).

    The forkserver exits when every copy of the build's "alive" pipe is closed, and each child
    it forks inherits one (to start processes of its own, which the worker never does): closed
    here, the forkserver ends with the build, and the kernel then ends the worker."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        server._forkserver_alive_fd = None
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _serve(conn: Connection, timeout_s: float) -> None:
    die_with_parent()
    signal.signal(signal.SIGALRM, signal.SIG_DFL)  # default action: the process ends
    while True:
        try:
            fn, args = conn.recv()
        except EOFError:
            return
        signal.setitimer(signal.ITIMER_REAL, timeout_s + GRACE_S)
        try:
            result: tuple[bool, Any] = (True, fn(*args))
        except Exception as err:
            result = (False, f"{type(err).__name__}: {err}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        conn.send(result)


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
        self._proc = self._ctx.Process(target=_serve, args=(child, self.timeout_s), daemon=True)
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
