"""The task-runner protocol the engine drives, and the helpers every runner shares.

A runner has two jobs: run the engine's work for a submitted task run
(``submit``), and invoke the user's function (``call``). The runners users pick
(threads, processes) live in :mod:`legato.sdk.runners`.
"""

from __future__ import annotations

import contextvars
import inspect
import threading
from collections.abc import Callable
from typing import Any, Protocol

from legato.engine.futures import LegatoFuture


class TaskRunner(Protocol):
    def duplicate(self) -> TaskRunner: ...

    def start(self) -> None: ...

    def submit(self, work: Callable[[], None]) -> None: ...

    def call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        log_target: Any,
        is_async: bool,
    ) -> Any: ...

    def shutdown(self, wait: bool = True) -> None: ...


def call_function(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    is_async: bool | None = None,
) -> Any:
    """Call a sync or async user function from synchronous code."""
    if is_async is None:
        is_async = inspect.iscoroutinefunction(fn)
    if is_async:
        import asyncio

        return asyncio.run(fn(*args, **kwargs))
    return fn(*args, **kwargs)


def submit_after(
    runner: TaskRunner, work: Callable[[], None], upstream: list[LegatoFuture[Any]]
) -> None:
    """Submit ``work`` once every upstream future is done, without holding a thread."""
    pending = [f for f in upstream if not f.done()]
    if not pending:
        runner.submit(work)
        return
    remaining = [len(pending)]
    lock = threading.Lock()
    context = contextvars.copy_context()

    def on_done(_future: LegatoFuture[Any]) -> None:
        with lock:
            remaining[0] -= 1
            ready = remaining[0] == 0
        if ready:
            context.run(runner.submit, work)

    for future in pending:
        future.add_done_callback(on_done)
