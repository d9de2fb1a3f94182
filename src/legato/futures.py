"""Futures of submitted task runs, under the import path Prefect users know
(``from legato.futures import wait, as_completed``).

``wait`` and ``as_completed`` work as ``concurrent.futures``' do, on the futures that
``task.submit`` and ``task.map`` return.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from legato.engine.futures import FutureList, LegatoFuture, allow_failure, unmapped

__all__ = [
    "DoneAndNotDoneFutures",
    "FutureList",
    "LegatoFuture",
    "allow_failure",
    "as_completed",
    "unmapped",
    "wait",
]


class DoneAndNotDoneFutures(NamedTuple):
    """What :func:`wait` returns: the futures that finished, and those that did not."""

    done: set[LegatoFuture[Any]]
    not_done: set[LegatoFuture[Any]]


def wait(
    futures: Iterable[LegatoFuture[Any]], timeout: float | None = None
) -> DoneAndNotDoneFutures:
    """Wait until every future is final, or ``timeout`` seconds pass; which are done.

    Unlike ``future.result()``, a failed task run raises nothing here: look at
    ``future.state`` (or call ``result``) to see how each ended."""
    pending = list(dict.fromkeys(_checked(futures)))
    deadline = None if timeout is None else time.monotonic() + timeout
    for future in pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        future.wait(left)
    done = {future for future in pending if future.done()}
    return DoneAndNotDoneFutures(done, set(pending) - done)


def as_completed(
    futures: Iterable[LegatoFuture[Any]], timeout: float | None = None
) -> Iterator[LegatoFuture[Any]]:
    """Yield each future as its task run finishes (those already final first).

    Raises TimeoutError if ``timeout`` seconds pass before all have finished."""
    pending = list(dict.fromkeys(_checked(futures)))
    finished: queue.SimpleQueue[LegatoFuture[Any]] = queue.SimpleQueue()
    for future in pending:
        future.add_done_callback(finished.put)
    deadline = None if timeout is None else time.monotonic() + timeout
    for count in range(len(pending)):
        left = None if deadline is None else deadline - time.monotonic()
        try:
            if left is not None and left <= 0:
                raise queue.Empty
            yield finished.get(timeout=left)
        except queue.Empty:
            raise TimeoutError(
                f"{len(pending) - count} of {len(pending)} futures did not finish "
                f"within {timeout} seconds"
            ) from None


def _checked(futures: Iterable[LegatoFuture[Any]]) -> Iterator[LegatoFuture[Any]]:
    for future in futures:
        if not isinstance(future, LegatoFuture):
            raise TypeError(
                f"expected futures from task.submit or task.map, got {type(future).__name__}"
            )
        yield future
