"""The batched writer: task-run states, graph edges and logs, committed in groups.

Tracking a task must cost microseconds, so the engine never waits for the
database: it appends a record op to a queue and moves on. One background thread
drains the queue every ``linger`` seconds (at once when someone flushes),
folds each task run's state changes into a single row update, and commits the
lot in one transaction. ``flush()`` is the durability barrier: when it returns,
everything put before it is committed - the flow engine calls it before it
reports a flow run final. ``submit(ops)`` is the same for one caller's ops (a
client's request): stored all together, or the caller hears why not.

A batch that fails for a reason retrying cannot fix (a duplicate id, text the
database cannot hold) costs only what is wrong in it: the writer writes it again
with its text cleaned, then in halves, down to the records that fail alone; the
rest is stored. A record the database refuses is dropped and named: on stderr, and
in an ERROR line stored in its run's logs (the run goes on). A ``submit`` group
that fails alone is not stored and its caller hears why (it raises); so does the
next ``flush`` of an op that is malformed, or unwritten because the database stayed
locked. The fast path pays nothing for this.

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
from legato.ops import (
    MARKERS,
    FlushMarker,
    Group,
    InsertTaskRun,
    Op,
    RecordBatch,
    RecordInput,
    RecordLog,
    RecordState,
    SortedBatch,
    StopMarker,
    Ticket,
    UpdateTaskRun,
    release,
    release_markers,
    sort_ops,
)
from legato.text import clean_text

MAX_BATCH = 50_000

BatchSink = Callable[[SortedBatch], None]

logger = logging.getLogger("legato.store")


URGENT = (FlushMarker, StopMarker, Group)
"""Ops someone waits on: their batch is written at once, without lingering."""


class BatchWriter:
    """Owns one daemon thread that commits queued ops through ``sink``.

    ``sink(sorted_batch)`` writes one batch (:class:`legato.ops.SortedBatch`) in one
    transaction. A batch that fails is retried a few times (a lock held by another
    process); one that fails for another reason is split down to the records that
    cannot be stored (see the module docstring). Records are never dropped silently.
    """

    def __init__(self, sink: BatchSink, *, linger: float = 0.05, name: str = "legato-writer"):
        self._sink = sink
        self._linger = linger
        self._queue: queue.SimpleQueue[Op] = queue.SimpleQueue()
        self._wake = threading.Event()
        self._unreported: list[tuple[Op, BaseException]] = []  # lost, no waiter told yet
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._name = name
        self.lost = 0
        """Records dropped since this writer started (each named on stderr)."""
        self.put = self._queue.put

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every op put before this call is committed.

        Raises StoreError if ops put before it were malformed or stayed unwritten (the
        database locked past the retries), naming them; or if the writer does not
        finish within ``timeout`` seconds. A record the database refused was dropped
        and noted in its run's logs (see the module docstring): no reason to fail.
        """
        self._wait(FlushMarker(Ticket()), timeout)

    def submit(self, ops: list[Op], timeout: float | None = None) -> None:
        """Commit ``ops`` (record ops, no markers) all together, and everything put before.

        Raises StoreError, having stored none of ``ops``, if they cannot be stored (a
        task run whose id exists already, ...); other callers' records are not affected.
        """
        self._wait(Group(ops, Ticket()), timeout)

    def _wait(self, op: FlushMarker | Group, timeout: float | None) -> None:
        ticket = op.ticket if isinstance(op, Group) else op.waiter
        assert isinstance(ticket, Ticket)
        self.start()
        self._queue.put(op)
        self._wake.set()
        if not ticket.wait(timeout):
            raise StoreError(f"the state store did not accept writes within {timeout} seconds")
        error = ticket.error
        if error is None:
            return
        if isinstance(error, StoreError):
            raise StoreError(str(error)) from error
        raise StoreError(f"writing run records failed: {error}") from error

    def close(self, timeout: float | None = 30.0) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        done = threading.Event()
        self._queue.put(StopMarker(done))
        self._wake.set()
        done.wait(timeout)

    def _run(self) -> None:
        get = self._queue.get
        get_nowait = self._queue.get_nowait
        while True:
            first = get()
            if self._linger and type(first) not in URGENT:
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
            except BaseException as exc:  # a fault of the writer itself: report, never die
                logger.error("legato could not write %d run records: %s", len(batch), exc)
                stop = release_markers(batch, exc)
            if stop:
                return

    def _write(self, batch: list[Op]) -> bool:
        try:
            sorted_batch = sort_ops(batch)
        except Exception as exc:  # a malformed op: found and dropped alone below
            error: BaseException | None = exc
        else:
            error = self._commit(sorted_batch)
            if error is None:
                if self._unreported:
                    return self._release(batch, {})
                for waiter in sorted_batch.waiters:
                    waiter.set()
                return sorted_batch.stop
        assert error is not None
        if _is_transient(error):  # still locked after the retries: nothing was written
            logger.error("legato could not write %d run records: %s", len(batch), error)
            return release_markers(batch, error)
        return self._salvage(batch)

    def _commit(self, sorted_batch: SortedBatch) -> BaseException | None:
        """Write one batch, retrying while the database is locked; the error, if any."""
        if not sorted_batch.has_records():
            return None
        for attempt in range(5):
            try:
                self._sink(sorted_batch)
                return None
            except Exception as exc:
                if attempt == 4 or not _is_transient(exc):
                    return exc
                time.sleep(0.2 * (attempt + 1))
        return None  # not reached

    # -- a batch that failed ------------------------------------------------------------

    def _salvage(self, batch: list[Op]) -> bool:
        """Store what can be stored of a failed batch; tell each waiter what it lost."""
        records = [op for op in batch if type(op) not in MARKERS]
        lost: list[tuple[Op, BaseException]] = []
        self._isolate(records, lost)
        failed_groups = {id(op): exc for op, exc in lost if type(op) is Group}
        unwritten: list[tuple[Op, BaseException]] = []  # told to the next flush
        dropped: list[tuple[Op, BaseException]] = []  # refused by the database: noted
        for op, exc in lost:
            if type(op) is Group:
                continue
            self.lost += 1
            logger.error(
                "legato could not store %s, and dropped it (the other records were stored): %s",
                describe_op(op),
                _short(exc),
            )
            if isinstance(exc, _Malformed) or _is_transient(exc):
                unwritten.append((op, exc))
            else:
                dropped.append((op, exc))
        if dropped:
            self._note(dropped)
        return self._release(batch, failed_groups, unwritten)

    def _note(self, dropped: list[tuple[Op, BaseException]]) -> None:
        """Store, in each run's logs, an ERROR line naming a record it lost: a run is not
        failed for one record the database refused, but nobody should miss it."""
        now = time.time()
        lines = [
            {
                "flow_run_id": flow_run_id,
                "task_run_id": None,
                "timestamp": now,
                "level": "ERROR",
                "logger": "legato.store",
                "message": f"legato could not store {describe_op(op)}, and dropped it: "
                f"{_short(exc)}",
            }
            for op, exc in dropped
            if (flow_run_id := _flow_run_of(op)) is not None
        ]
        if lines and self._commit(SortedBatch(logs=lines, scrub=True)) is not None:
            logger.error("legato could not store the notes of %d dropped records", len(lines))

    def _isolate(self, records: list[Op], lost: list[tuple[Op, BaseException]]) -> None:
        """Write ``records`` with their text cleaned; if that fails, each half alone,
        down to the single records (a group is one) that cannot be stored."""
        if not records:
            return
        try:
            sorted_batch = sort_ops(records)
        except Exception as exc:  # an op this writer does not understand
            error: BaseException | None = _Malformed(exc)
        else:
            sorted_batch.scrub = True
            error = self._commit(sorted_batch)
        if error is None:
            return
        if len(records) == 1 or _is_transient(error):
            lost.extend((op, error) for op in records)
            return
        middle = len(records) // 2
        self._isolate(records[:middle], lost)
        self._isolate(records[middle:], lost)

    def _release(
        self,
        batch: list[Op],
        failed_groups: dict[int, BaseException],
        lost: list[tuple[Op, BaseException]] | None = None,
    ) -> bool:
        """Wake the waiters of ``batch``: a group hears its own error; a flush or stop
        hears of the loose records lost before it (in this batch or an earlier one)."""
        lost_by_id = {id(op): (op, exc) for op, exc in lost or ()}
        stop = False
        for op in batch:
            if isinstance(op, Group):
                release(op.ticket, failed_groups.get(id(op)))
            elif isinstance(op, FlushMarker | StopMarker):
                unreported, self._unreported = self._unreported, []
                release(op.waiter, _lost_error(unreported) if unreported else None)
                stop = stop or isinstance(op, StopMarker)
            elif id(op) in lost_by_id:
                self._unreported.append(lost_by_id[id(op)])
        return stop


class _Malformed(Exception):
    """A record op the writer cannot even sort (a fault of its caller)."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def _short(exc: BaseException) -> str:
    """An error's first line, cut to a length a log line and a message can carry (a
    database error may quote a whole row)."""
    text = clean_text(str(exc)).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= 300 else first[:297] + "..."


def _flow_run_of(op: Op) -> str | None:
    try:
        if isinstance(op, InsertTaskRun | RecordState | UpdateTaskRun):
            return str(op.task_run.flow_run_id)
        if isinstance(op, RecordLog) and op.row.get("flow_run_id"):
            return str(op.row["flow_run_id"])
    except Exception:
        return None
    return None


def _lost_error(lost: list[tuple[Op, BaseException]]) -> StoreError:
    named = "; ".join(f"{describe_op(op)} ({_short(exc)})" for op, exc in lost[:3])
    more = f"; and {len(lost) - 3} more" if len(lost) > 3 else ""
    return StoreError(
        f"{len(lost)} run record(s) could not be stored and were dropped (every other "
        f"record was stored): {named}{more}"
    )


def describe_op(op: Op) -> str:
    """A record op as people read it in an error message."""
    try:
        if isinstance(op, InsertTaskRun):
            run = op.task_run
            name = clean_text(str(run.name))
            return f"task run {run.id} ({name if len(name) <= 60 else name[:57] + '...'!r})"
        if isinstance(op, RecordState):
            return f"the {clean_text(str(op.state.name))} state of task run {op.task_run.id}"
        if isinstance(op, UpdateTaskRun):
            return f"an update of task run {op.task_run.id}"
        if isinstance(op, RecordLog):
            text = clean_text(str(op.row["message"]))
            shown = text if len(text) <= 60 else text[:57] + "..."
            return f"a log line of flow run {op.row['flow_run_id']} ({shown!r})"
        if isinstance(op, RecordInput):
            return f"a graph edge of task run {op.row['task_run_id']}"
        if isinstance(op, RecordBatch):
            return f"the id of client batch {op.row['id']}"
        if isinstance(op, Group):
            return f"a batch of {len(op.ops)} records"
    except Exception:
        pass
    return f"a malformed record op {clean_text(repr(op)[:80])}"


def _is_transient(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text
