"""The record ops every orchestrator accepts, and how a batch of them is sorted.

The engine enqueues these frozen records (see :mod:`legato.engine.task_run`); the
store's batched writer and the HTTP client's sender both drain them in batches and
sort them the same way: one row write per task run per batch (its newest facts, read
off the object when the batch is written), every state in order, edges, logs, and
the flush/stop markers of whoever waits.

    InsertTaskRun(task_run)       insert a task run
    RecordState(task_run, state)  append ``state`` to its history; rewrite its row
    UpdateTaskRun(task_run)       rewrite its row (no history)
    RecordInput(row)              a graph edge (dict: task_run_id, parameter, upstream_id)
    RecordLog(row)                a log line (dict: the columns of ``logs``)
    RecordBatch(row)              a client batch's id, stored with it (dict: id, received)
    FlushMarker(waiter)           set ``waiter`` once everything before it is durable
    StopMarker(waiter)            the same, then the draining thread ends
    Group(ops, ticket)            ``ops`` (a list of the record ops above), all stored or
                                  none: set ``ticket`` once they are, or with its ``error``
                                  (one client request's batch: one request's bad row must
                                  not cost another request's rows)

A flush or stop marker may carry a :class:`Ticket` too: the writer sets its ``error``
when ops put before it were malformed or could not be written (see
:mod:`legato.store.writer` for what happens to a record the database refuses).

Frozen slotted dataclasses, not ``typing.NamedTuple``: every task run makes three or
four of these on the engine's thread (insert, then one per state change), and a frozen
dataclass pays ``object.__setattr__`` per field in its ``__init__`` (CPython 3.11: a
plain tuple 0.04 us, a NamedTuple 0.23 us, this 0.47 us per construction). That is
about 1.5 us per task run against a per-task overhead of 60-150 us in
``bench/overhead.py``, below what that benchmark tells apart from the tuples these
replaced: run alternately with them (five rounds, medians of per-task overhead in us,
scenarios a/b/c) the tuples gave 73.8/70.8/122.0, these 60.3/78.7/113.0 and
NamedTuples 80.2/82.7/113.7, the spread between rounds of one build being larger
(a: 52-82 for the tuples). The consumers tell the ops apart by ``type(op)``, never by
position.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class InsertTaskRun:
    """Insert ``task_run`` (an engine TaskRun, or a row object with its columns)."""

    task_run: Any


@dataclass(frozen=True, slots=True)
class RecordState:
    """Append ``state`` to the task run's history and rewrite its row."""

    task_run: Any
    state: Any


@dataclass(frozen=True, slots=True)
class UpdateTaskRun:
    """Rewrite the task run's row (no history)."""

    task_run: Any


@dataclass(frozen=True, slots=True)
class RecordInput:
    """A graph edge: task_run_id, parameter, upstream_id."""

    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordLog:
    """A log line: the columns of ``logs``."""

    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """A client batch's id, stored with its records: id, received."""

    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FlushMarker:
    """Set ``waiter`` once everything put before it is durable."""

    waiter: threading.Event


@dataclass(frozen=True, slots=True)
class StopMarker:
    """As :class:`FlushMarker`, then the draining thread ends."""

    waiter: threading.Event


@dataclass(frozen=True, slots=True)
class Group:
    """``ops`` all stored or none; ``ticket`` says which."""

    ops: list[Op]
    ticket: Ticket


TaskRunOp = InsertTaskRun | RecordState | UpdateTaskRun
"""The ops that carry a task run."""

Record = InsertTaskRun | RecordState | UpdateTaskRun | RecordInput | RecordLog | RecordBatch
"""A record op: something to store."""

Marker = FlushMarker | StopMarker

Op = Record | Marker | Group

MARKERS = (FlushMarker, StopMarker)


class Ticket(threading.Event):
    """A waiter's event that also says how its records fared: ``error`` is None when
    they were committed, else why they were not."""

    def __init__(self) -> None:
        super().__init__()
        self.error: BaseException | None = None


def release(waiter: threading.Event, error: BaseException | None) -> None:
    """Wake ``waiter``, telling it ``error`` if it is a :class:`Ticket`."""
    if error is not None and isinstance(waiter, Ticket):
        waiter.error = error
    waiter.set()


@dataclass
class SortedBatch:
    new_task_runs: dict[str, Any] = field(default_factory=dict)
    changed_task_runs: dict[str, Any] = field(default_factory=dict)
    history: list[tuple[Any, Any]] = field(default_factory=list)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    batches: list[dict[str, Any]] = field(default_factory=list)
    waiters: list[threading.Event] = field(default_factory=list)
    stop: bool = False
    scrub: bool = False
    """Write text with characters the database cannot hold replaced (see
    :func:`legato.text.clean_text`); set when a batch is written again after it failed."""

    def has_records(self) -> bool:
        return bool(
            self.new_task_runs
            or self.changed_task_runs
            or self.history
            or self.inputs
            or self.logs
            or self.batches
        )


def sort_ops(batch: list[Op]) -> SortedBatch:
    """Group a batch of ops; raises on an op it does not understand."""
    out = SortedBatch()
    new, changed = out.new_task_runs, out.changed_task_runs
    op: Any  # told apart by exact type, which is quicker than isinstance on this path
    for op in batch:
        kind = type(op)
        if kind is RecordState:
            task_run = op.task_run
            out.history.append((task_run, op.state))
            if task_run.id not in new:
                changed[task_run.id] = task_run
        elif kind is InsertTaskRun:
            task_run = op.task_run
            new[task_run.id] = task_run
            changed.pop(task_run.id, None)
        elif kind is UpdateTaskRun:
            task_run = op.task_run
            if task_run.id not in new:
                changed[task_run.id] = task_run
        elif kind is RecordLog:
            out.logs.append(op.row)
        elif kind is RecordInput:
            out.inputs.append(op.row)
        elif kind is RecordBatch:
            out.batches.append(op.row)
        elif kind is Group:
            grouped = sort_ops(op.ops)
            if grouped.waiters:
                raise ValueError("a group of record ops cannot hold flush or stop markers")
            _merge(out, grouped)
            out.waiters.append(op.ticket)
        elif kind is FlushMarker or kind is StopMarker:
            out.waiters.append(op.waiter)
            out.stop = out.stop or kind is StopMarker
        else:
            raise ValueError(f"unknown record op {op!r}")
    return out


def _merge(out: SortedBatch, more: SortedBatch) -> None:
    """Append ``more`` (a group, sorted on its own) to ``out``. A group carries its own
    row objects, so its rows replace earlier ones; two groups inserting the same task
    run is a conflict (raised, so that the writer stores each group alone and the second
    one hears of it) rather than one group's row silently taking the other's place."""
    new, changed = out.new_task_runs, out.changed_task_runs
    for task_run_id, task_run in more.new_task_runs.items():
        if task_run_id in new:
            raise ValueError(f"two batches insert the task run {task_run_id}")
        new[task_run_id] = task_run
        changed.pop(task_run_id, None)
    for task_run_id, task_run in more.changed_task_runs.items():
        if task_run_id in new:
            new[task_run_id] = task_run
        else:
            changed[task_run_id] = task_run
    out.history.extend(more.history)
    out.inputs.extend(more.inputs)
    out.logs.extend(more.logs)
    out.batches.extend(more.batches)


def release_markers(batch: list[Op], error: BaseException | None = None) -> bool:
    """Wake every waiter of ``batch`` (with ``error``, if given); True if it held a stop."""
    stop = False
    op: Any
    for op in batch:
        kind = type(op)
        if kind is FlushMarker or kind is StopMarker:
            release(op.waiter, error)
            stop = stop or kind is StopMarker
        elif kind is Group:
            release(op.ticket, error)
    return stop
