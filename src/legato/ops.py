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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

FLUSH = "flush"
STOP = "stop"
MARKERS = (FLUSH, STOP)

Op = tuple[Any, ...]


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
        elif kind in MARKERS:
            out.waiters.append(op[1])
            out.stop = out.stop or kind == STOP
        else:
            raise ValueError(f"unknown record op {kind!r}")
    return out


def release_markers(batch: list[Op]) -> bool:
    """After a batch could not even be sorted: wake its waiters; True if it held a stop."""
    stop = False
    for op in batch:
        if op and op[0] in MARKERS:
            op[1].set()
            stop = stop or op[0] == STOP
    return stop
