"""The record ops every orchestrator accepts, and how a batch of them is sorted.

The engine enqueues plain tuples (see :mod:`legato.engine.task_run`); the store's
batched writer and the HTTP client's sender both drain them in batches and sort
them the same way: one row write per task run per batch (its newest facts, read
off the object when the batch is written), every state in order, edges, logs,
and the flush/stop markers of whoever waits.

    ("task_run", task_run)        insert a task run
    ("state", task_run, state)    append ``state`` to its history; rewrite its row
    ("update", task_run)          rewrite its row (no history)
    ("input", row)                a graph edge (dict: task_run_id, parameter, upstream_id)
    ("log", row)                  a log line (dict: the columns of ``logs``)
    ("batch", row)                a client batch's id, stored with it (dict: id, received)
    ("flush", event)              set ``event`` once everything before it is durable
    ("stop", event)               the same, then the draining thread ends
    ("group", ops, ticket)        ``ops`` (a list of the record ops above), all stored or
                                  none: set ``ticket`` once they are, or with its ``error``
                                  (one client request's batch: one request's bad row must
                                  not cost another request's rows)

A flush or stop marker may carry a :class:`Ticket` too: the writer sets its ``error``
when ops put before it were malformed or could not be written (see
:mod:`legato.store.writer` for what happens to a record the database refuses).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FLUSH = "flush"
STOP = "stop"
GROUP = "group"
MARKERS = (FLUSH, STOP)

Op = tuple[Any, ...]


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
    for op in batch:
        kind = op[0]
        if kind == "state":
            task_run = op[1]
            out.history.append((task_run, op[2]))
            if task_run.id not in new:
                changed[task_run.id] = task_run
        elif kind == "task_run":
            new[op[1].id] = op[1]
            changed.pop(op[1].id, None)
        elif kind == "update":
            if op[1].id not in new:
                changed[op[1].id] = op[1]
        elif kind == "log":
            out.logs.append(op[1])
        elif kind == "input":
            out.inputs.append(op[1])
        elif kind == "batch":
            out.batches.append(op[1])
        elif kind == GROUP:
            grouped = sort_ops(op[1])
            if grouped.waiters:
                raise ValueError("a group of record ops cannot hold flush or stop markers")
            _merge(out, grouped)
            out.waiters.append(op[2])
        elif kind in MARKERS:
            out.waiters.append(op[1])
            out.stop = out.stop or kind == STOP
        else:
            raise ValueError(f"unknown record op {kind!r}")
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
    for op in batch:
        if not op:
            continue
        if op[0] in MARKERS:
            release(op[1], error)
            stop = stop or op[0] == STOP
        elif op[0] == GROUP and len(op) > 2:
            release(op[2], error)
    return stop
