"""Running a body with a time limit.

A sync body with a timeout runs in a helper thread while the caller waits; when
the time is up the caller reports TimedOut at once and an exception is raised
inside the helper thread (``PyThreadState_SetAsyncExc``) so that Python code
there stops at its next bytecode. Async bodies use ``asyncio.timeout``.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
from collections.abc import Callable
from typing import Any

from legato.errors import TaskTimeout


def interrupt_thread(thread_id: int, exc_type: type[BaseException]) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type)
    )


class _Stop(TaskTimeout):
    """Raised inside a body's thread once its caller has given up on it."""


def call_with_timeout(
    fn: Callable[[], Any],
    timeout: float,
    what: str,
    error: type[TaskTimeout] = TaskTimeout,
) -> Any:
    """Call ``fn`` and return its value, or raise TaskTimeout after ``timeout`` seconds.

    Exceptions of ``fn`` are re-raised in the caller unchanged.
    """
    outcome: list[Any] = []
    context = contextvars.copy_context()

    def target() -> None:
        try:
            outcome.append((True, context.run(fn)))
        except BaseException as exc:
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name=f"legato-timeout-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        if thread.ident is not None:
            interrupt_thread(thread.ident, _Stop)
        raise error(f"{what} exceeded its timeout of {timeout:g} seconds")
    ok, value = outcome[0]
    if ok:
        return value
    raise value
