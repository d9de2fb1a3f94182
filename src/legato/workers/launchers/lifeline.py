"""Flow-run processes die with their worker.

A worker killed outright (kill -9, the OOM killer) cannot stop the runs it launched,
and the server's reaper soon gives those runs to another worker: a flow process that
outlived its worker would run the same flow body a second time, at the same time.
So on Linux every run's process asks the kernel to SIGKILL it when its parent dies
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``): the process launcher's children when the
worker dies, the fork server when the worker dies, and each forked run when the fork
server dies. The parent may have died already before the child asked (between the
fork and the ``prctl``), so the child then checks that its parent is still the one
that started it, and exits if not.

The kernel sends the signal when the *thread* that forked the child ends, not the
process: launches happen on the worker's main thread (and in the single-threaded fork
server), which lives as long as the process. A second guard works everywhere: the
process launcher's children also watch a pipe only the worker holds open
(:class:`Lifeline`). And should a process outlive its claim all the same, the attempt
token stops it: its proposals are refused and it exits (:mod:`legato.store.run_tokens`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import NoReturn

PARENT_PID_VARIABLE = "LEGATO_WORKER_PID"
"""The pid of the process that launched this run's process (the worker, or the fork server)."""
PR_SET_PDEATHSIG = 1
EXIT_ORPHANED = 137
"""Exit code of a run's process that found its parent gone before it could watch it."""
ORPHANED = "the worker that launched this run is gone; stopping"


def exit_at_once(reason: str, code: int) -> NoReturn:
    """End this run's process now, from any thread, saying why on stderr: no more of the
    flow runs and nothing more is reported (``os._exit``: no cleanup, no atexit)."""
    with contextlib.suppress(Exception):
        sys.stderr.write(f"legato: {reason}\n")
        sys.stderr.flush()
    os._exit(code)


def die_with_parent(expected_parent: int | None) -> bool:
    """Linux: be SIGKILLed when the parent dies; exit now if ``expected_parent`` (the pid
    that started this process) is gone already. Whether the kernel took the request (False
    elsewhere, or if ``prctl`` failed)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
    if expected_parent is not None and os.getppid() != expected_parent:
        exit_at_once(ORPHANED, EXIT_ORPHANED)
    return bool(armed)


def die_with_launcher() -> None:
    """In a run's process: :func:`die_with_parent`, if a worker or fork server said it is
    the parent (``LEGATO_WORKER_PID``), and :func:`watch_lifeline`; nothing for a process
    started otherwise."""
    value = os.environ.pop(PARENT_PID_VARIABLE, None)
    if value and value.isdigit():
        die_with_parent(int(value))
    watch_lifeline()


LIFELINE_FD_VARIABLE = "LEGATO_WORKER_LIFELINE_FD"
"""The read end of a pipe whose write end only the worker holds (the second guard)."""


class Lifeline:
    """The second guard, for where the kernel has no parent-death signal (or it did not
    fire): a pipe whose write end the worker holds, and never writes to, for as long as
    it lives. Each run's process watches the read end; when the worker dies, however,
    the kernel closes the write end and the watcher reads end-of-file."""

    def __init__(self) -> None:
        # Both ends are non-inheritable: only children given the read end (pass_fds) get it.
        self.read_fd, self._write_fd = os.pipe()


def watch_lifeline() -> None:
    """In a run's process: exit once the worker's end of the lifeline closes (see
    :class:`Lifeline`); nothing for a process started without one."""
    value = os.environ.pop(LIFELINE_FD_VARIABLE, None)
    if not value or not value.isdigit():
        return
    import threading

    descriptor = int(value)

    def watch() -> None:
        try:
            while os.read(descriptor, 1):
                pass
        except OSError:
            return  # not a lifeline after all: nothing to watch
        exit_at_once(ORPHANED, EXIT_ORPHANED)

    threading.Thread(target=watch, name="legato-lifeline", daemon=True).start()
