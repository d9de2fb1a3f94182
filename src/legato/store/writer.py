"""The batched writer: task-run states, graph edges and logs, committed in groups.

Tracking a task must cost microseconds, so the engine never waits for the
database: it appends a tuple to a queue and moves on. One background thread
drains the queue every ``linger`` seconds (at once when someone flushes),
folds each task run's state changes into a single row update, and commits the
lot in one transaction. ``flush()`` is the durability barrier: when it returns,
everything put before it is committed - the flow engine calls it before it
reports a flow run final.

Ops are plain tuples (cheapest to build). ``current_fields`` is always the full
snapshot of a task run's current columns (``TaskRun.fields()``), never a part.

    ("task_run", row)                        insert a task run (a full row dict)
    ("state", history_row, current_fields)   append history; set the task run's current fields
    ("update", task_run_id, current_fields)  set a task run's current fields, no history
    ("input", row)                           a graph edge
    ("log", row)                             a log line
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from legato.errors import StoreError

_FLUSH = "flush"
_STOP = "stop"
MAX_BATCH = 50_000

Op = tuple[Any, ...]
BatchSink = Callable[
    [
        list[dict[str, Any]],
        list[dict[str, Any]],
        list[dict[str, Any]],
        list[dict[str, Any]],
        list[dict[str, Any]],
    ],
    None,
]

logger = logging.getLogger("legato.store")


class BatchWriter:
    """Owns one daemon thread that commits queued ops through ``sink``.

    ``sink(task_run_inserts, task_run_updates, history_rows, input_rows, log_rows)``
    writes one batch in one transaction. A batch that fails is retried a few times
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
        self._queue.put((_FLUSH, done))
        self._wake.set()
        if not done.wait(timeout):
            raise StoreError(f"the state store did not accept writes within {timeout} seconds")
        self._raise_error()

    def close(self, timeout: float | None = 30.0) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        done = threading.Event()
        self._queue.put((_STOP, done))
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
            if self._linger and first[0] not in (_FLUSH, _STOP):
                self._wake.wait(self._linger)
            self._wake.clear()
            batch = [first]
            try:
                while len(batch) < MAX_BATCH:
                    batch.append(get_nowait())
            except queue.Empty:
                pass
            stop = self._write(batch)
            if stop:
                return

    def _write(self, batch: list[Op]) -> bool:
        inserts: dict[str, dict[str, Any]] = {}
        updates: dict[str, dict[str, Any]] = {}
        history: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        logs: list[dict[str, Any]] = []
        waiters: list[threading.Event] = []
        stop = False
        for op in batch:
            kind = op[0]
            if kind == "state":
                history.append(op[1])
                fields = op[2]
                task_run_id = op[1]["task_run_id"]
                row = inserts.get(task_run_id)
                if row is not None:
                    row.update(fields)
                else:
                    updates[task_run_id] = fields
            elif kind == "task_run":
                inserts[op[1]["id"]] = op[1]
            elif kind == "update":
                row = inserts.get(op[1])
                if row is not None:
                    row.update(op[2])
                else:
                    updates[op[1]] = op[2]
            elif kind == "log":
                logs.append(op[1])
            elif kind == "input":
                inputs.append(op[1])
            elif kind == _FLUSH:
                waiters.append(op[1])
            elif kind == _STOP:
                waiters.append(op[1])
                stop = True
        if inserts or updates or history or inputs or logs:
            update_rows = [{"_id": key, **fields} for key, fields in updates.items()]
            for attempt in range(5):
                try:
                    self._sink(list(inserts.values()), update_rows, history, inputs, logs)
                    break
                except BaseException as exc:
                    if attempt == 4 or not _is_transient(exc):
                        logger.error("legato could not write %d run records: %s", len(batch), exc)
                        self._error = exc
                        break
                    time.sleep(0.2 * (attempt + 1))
        for waiter in waiters:
            waiter.set()
        return stop


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
