"""Every process an experiment program starts, found and killed: Linux process-tree containment.

While a program runs, the runner is a child subreaper (``PR_SET_CHILD_SUBREAPER``): a process
whose parent exits (a double-forked or ``setsid`` daemon) is re-parented to the runner instead
of init, so it stays in the runner's process tree. The program's processes are the runner's
children that did not exist before the program started, and all their descendants (read from
/proc by psutil). They are counted, their CPU time and resident memory summed, and all killed
(repeatedly, until none is left) and reaped when the program exits or breaks a limit.

While the program runs the runner is also not dumpable (``PR_SET_DUMPABLE`` 0): a process of the
same user cannot read its ``/proc/<pid>/environ`` (where the runner's secrets are), ``mem`` or
``maps``; root and holders of ``CAP_SYS_PTRACE`` still can.

Limits of this: the limits are checked every ``POLL_S`` seconds, so a program can exceed them
between two checks; a child started by another thread of the runner while the program runs, or
an orphan of the runner's other children re-parented to it then, is counted as the program's.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil

POLL_S = 0.1
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
LINUX = sys.platform.startswith("linux")


def _prctl(option: int, arg: int = 0) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    if option == PR_GET_CHILD_SUBREAPER:
        value = ctypes.c_int(0)
        libc.prctl(option, ctypes.byref(value), 0, 0, 0)
        return value.value
    result = libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0)
    if result < 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")
    return result


def user_task_count() -> int:
    """Threads of this real user, the number ``RLIMIT_NPROC`` is compared with."""
    uid, count = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        uids, threads = proc.info["uids"], proc.info["num_threads"]
        if uids is not None and uids.real == uid:
            count += threads or 1
    return count


@dataclass
class Usage:
    processes: int
    cpu_s: float
    rss_bytes: int


class ProcessTree:
    """The processes of one program run (see the module docstring); a context manager."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._before: set[int] = set()
        self._flags: tuple[int, int] | None = None
        self.reaped_cpu_s = 0.0  # CPU time of the processes this runner reaped itself

    def __enter__(self) -> ProcessTree:
        self._before = {c.pid for c in self._me.children()}
        if LINUX:
            self._flags = (_prctl(PR_GET_CHILD_SUBREAPER), _prctl(PR_GET_DUMPABLE))
            _prctl(PR_SET_CHILD_SUBREAPER, 1)
            _prctl(PR_SET_DUMPABLE, 0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill_all()
        if self._flags is not None:
            _prctl(PR_SET_CHILD_SUBREAPER, self._flags[0])
            _prctl(PR_SET_DUMPABLE, self._flags[1])

    def members(self) -> list[psutil.Process]:
        """The program's processes now (zombies included)."""
        out = []
        for child in self._me.children():
            if child.pid in self._before:
                continue
            out.append(child)
            with contextlib.suppress(psutil.Error):
                out.extend(child.children(recursive=True))
        return out

    def usage(self) -> Usage:
        cpu, rss, members = self.reaped_cpu_s, 0, self.members()
        for proc in members:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                cpu += t.user + t.system + t.children_user + t.children_system
                rss += proc.memory_info().rss
        return Usage(len(members), cpu, rss)

    def kill_all(self, spare: int | None = None, deadline_s: float = 30.0) -> None:
        """SIGKILL every process of the program until none is left, reaping the runner's own
        children among them except ``spare`` (the program, left for its ``Popen`` to wait)."""
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            members = self.members()
            if not [p for p in members if p.pid != spare]:
                return
            for proc in members:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            for pid in self._own_children(spare):
                self._reap(pid)
            time.sleep(0.01)

    def _own_children(self, spare: int | None) -> Iterator[int]:
        for child in self._me.children():
            if child.pid not in self._before and child.pid != spare:
                yield child.pid

    def _reap(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            done, _, rusage = os.wait4(pid, os.WNOHANG)
            if done:
                self.reaped_cpu_s += rusage.ru_utime + rusage.ru_stime
