"""The batched writer: task-run states, graph edges and logs, committed in groups.

Tracking a task must cost microseconds, so the engine never waits for the
database: it appends a tuple to a queue and moves on. One background thread
drains the queue every ``linger`` seconds (at once when someone flushes),
folds each task run's state changes into a single row update, and commits the
lot in one transaction. ``flush()`` is the durability barrier: when it returns,
everything put before it is committed - the flow engine calls it before it
reports a flow run final.

The ops and how a batch is sorted are described in :mod:`legato.ops`; a task
run travels as the engine's object itself (``legato.engine.task_run.TaskRun``, or
anything with the attributes ``legato.store.store.BulkStatements`` reads).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

from legato.errors import StoreError
from legato.ops import FLUSH, MARKERS, STOP, Op, SortedBatch, release_markers, sort_ops

MAX_BATCH = 50_000

BatchSink = Callable[[SortedBatch], None]

logger = logging.getLogger("legato.store")


class BatchWriter:
    """Owns one daemon thread that commits queued ops through ``sink``.

    ``sink(sorted_batch)`` writes one batch (:class:`legato.ops.SortedBatch`) in one
    transaction. A batch that fails is retried a few times
    (a lock held by another process); if it still fails the error is kept and the
    next ``flush()`` raises it, so records are never dropped silently.
    """

    def __init__(self, sink: BatchSink, *, linger: float = 0.05, name: str = "legato-writer"):
        self._sink = sink
        self._linger = linger
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._name = name
        self.put = self._queue.put

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every op put before this call is committed.

        Raises StoreError if a batch could not be written, or if the writer does not
        finish within ``timeout`` seconds.
        """
        self.start()
        done = threading.Event()
        self._queue.put((FLUSH, done))
        self._wake.set()
        if not done.wait(timeout):
            raise StoreError(f"the state store did not accept writes within {timeout} seconds")
        self._raise_error()

    def close(self, timeout: float | None = 30.0) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        done = threading.Event()
        self._queue.put((STOP, done))
        self._wake.set()
        done.wait(timeout)

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            if isinstance(error, StoreError):
                raise StoreError(str(error))
            raise StoreError(f"writing run records failed: {error}") from error

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        while True:
            first = get()
            if self._linger and first[0] not in MARKERS:
                self._wake.wait(self._linger)
            self._wake.clear()
            batch = [first]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            try:
                stop = self._write(batch)
            except BaseException as exc:  # a malformed op: report it, never die silently
                logger.error("legato could not write %d run records: %s", len(batch), exc)
                self._error = exc
                stop = release_markers(batch)
            if stop:
                return

    def _write(self, batch: list[Op]) -> bool:
        sorted_batch = sort_ops(batch)
        if sorted_batch.has_records():
            for attempt in range(5):
                try:
                    self._sink(sorted_batch)
                    break
                except BaseException as exc:
                    if attempt == 4 or not _is_transient(exc):
                        logger.error("legato could not write %d run records: %s", len(batch), exc)
                        self._error = exc
                        break
                    time.sleep(0.2 * (attempt + 1))
        for waiter in sorted_batch.waiters:
            waiter.set()
        return sorted_batch.stop


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
