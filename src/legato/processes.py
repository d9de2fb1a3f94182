"""Which process runs a local flow run, and whether that process is gone.

A flow called from code (``python my_flow.py``) has no worker to notice that it
died: kill -9 or the OOM killer leave its run Running forever. So a local run
records the process running it - host name, pid, and the process's start time -
and any legato command or server on that host can tell, later, that the process no
longer exists. The start time matters because pids are recycled: a pid that now
belongs to a process started at another time is not the one that ran the run.

:func:`gone_reason` is the decision, pure given a stored row, this host's name and
a way to look a pid's start time up; :func:`process_start_time` is that look-up (on
Linux from ``/proc``, which costs no import; elsewhere through psutil, imported
only then: it takes ~15 ms to import, a flow's cold start is ~0.4 s). Runs recorded
by another host are never judged: a pid means nothing there.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from legato.states import TERMINAL_TYPES, StateType

START_TOLERANCE = 2.0
"""Seconds two readings of one process's start time may differ by. They are computed
from the boot time, which moves when the wall clock is stepped; a recycled pid has to
wrap around the whole pid space to come back, which takes far longer than this."""

StartTimeLookup = Callable[[int], "float | None"]


@dataclass(frozen=True)
class ProcessIdentity:
    """One process, told apart from any later process that gets the same pid."""

    host: str
    pid: int
    started: float
    """The process's start time (epoch seconds)."""

    def fields(self) -> dict[str, Any]:
        """The flow-run columns that record it."""
        return {"process_host": self.host, "process_pid": self.pid, "process_started": self.started}

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}"


_this: ProcessIdentity | None = None


def host_name() -> str:
    return socket.gethostname()


def this_process() -> ProcessIdentity:
    """This process (computed once per process; a forked child computes its own)."""
    global _this
    current = _this
    if current is None or current.pid != os.getpid():
        pid = os.getpid()
        started = process_start_time(pid)
        current = _this = ProcessIdentity(host_name(), pid, started if started is not None else 0.0)
    return current


def gone_reason(row: Mapping[str, Any], host: str, start_time_of: StartTimeLookup) -> str | None:
    """Why the process that ran the flow run ``row`` (its stored columns) is gone, or
    None when it may still be running it.

    Only a local run is judged: not final, held by no worker, its process recorded on
    ``host``. Its process is gone when ``start_time_of(pid)`` finds no process, or one
    that started at another time (the pid was recycled).
    """
    if row.get("state_type") in _FINAL_VALUES or row.get("worker_name") is not None:
        return None
    pid = row.get("process_pid")
    started = row.get("process_started")
    if row.get("process_host") != host or pid is None or started is None:
        return None
    actual = start_time_of(int(pid))  # NaN: it exists, its start time is unknown
    who = f"pid {pid} on {host}"
    if actual is None:
        return f"the process that ran it ({who}) is gone"
    if abs(actual - float(started)) > START_TOLERANCE:
        return f"the process that ran it ({who}) is gone; that pid now belongs to another process"
    return None


_FINAL_VALUES = frozenset(t.value for t in TERMINAL_TYPES)
NON_FINAL_VALUES = tuple(t.value for t in StateType if t not in TERMINAL_TYPES)
"""States a local run may be left in by a process that died."""


# -- the look-up (I/O) ---------------------------------------------------------------


def process_start_time(pid: int) -> float | None:
    """When the process ``pid`` of this host started (epoch seconds), or None if there is
    no such process (a zombie, dead but not yet reaped by its parent, counts as none)."""
    if pid <= 0:
        return None
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
        return _proc_start_time(pid)
    return _psutil_start_time(pid)


_boot_time: float | None = None


def _proc_start_time(pid: int) -> float | None:
    """From /proc, as psutil computes it: boot time + the start in clock ticks."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except FileNotFoundError:
        return _exists_unseen(pid)
    except OSError:
        return _psutil_start_time(pid)
    # The command name (field 2) is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields[0] in (b"Z", b"X"):  # zombie or dead
        return None
    global _boot_time
    if _boot_time is None:
        _boot_time = _read_boot_time()
    return _boot_time + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _exists_unseen(pid: int) -> float | None:
    """No /proc entry: gone, unless /proc hides other users' processes (hidepid) and the
    pid exists (start time unknown: NaN, which never differs from a recorded one)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return float("nan")
    return float("nan")


def _read_boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime"):
                return float(line.split()[1])
    raise OSError("/proc/stat has no btime line")


def _psutil_start_time(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        # It exists, we may not look: never call a run's process gone on a guess.
        return float("nan")
