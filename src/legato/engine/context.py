"""The run context: the one ambient value, carried by a contextvar.

A flow run's context holds what its task calls need (orchestrator, task runner,
result store, counters); a task run's context says which task run is executing,
for ``get_run_logger`` and ``cache_key_fn``.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from legato.engine.results import ResultStore
from legato.orchestrator.protocol import Orchestrator

if TYPE_CHECKING:
    from legato.engine.runner import TaskRunner
    from legato.engine.task_run import TaskRun


@dataclass(slots=True)
class PreviousTaskRun:
    """A task run of an earlier attempt of the same flow run (resume, flow retries)."""

    id: str
    state_type: str
    state_name: str
    run_count: int
    result_key: str | None
    created: float
    start_time: float | None
    end_time: float | None
    subflow_run_id: str | None = None
    has_value: bool = False
    value: Any = None


@dataclass(eq=False)
class FlowRunContext:
    flow: Any
    flow_run_id: str
    flow_run_name: str
    orchestrator: Orchestrator
    task_runner: TaskRunner
    result_store: ResultStore
    log_prints: bool
    attempt: int = 1
    parameters: dict[str, Any] = field(default_factory=dict)
    # The slot a run of a deployment stands for (its schedule's time, a backfilled
    # slot's time, or when it was asked for); None for a flow called from code.
    scheduled_time: datetime | None = None
    previous: dict[tuple[str, int], PreviousTaskRun] = field(default_factory=dict)
    # Task runs not yet final (to mark Crashed if the flow run dies under them).
    active: set[TaskRun] = field(default_factory=set)
    # Every task run of this attempt, by (task_key, dynamic_key): an in-process flow
    # retry reruns exactly these.
    runs_by_key: dict[tuple[str, int], TaskRun] = field(default_factory=dict)
    # Values of completed task runs (unless persist_result=False): reused by a flow retry
    # in this process, and written to the result store if the flow run fails, so that
    # a later `legato runs retry` can skip them too.
    values: dict[str, tuple[TaskRun, Any]] = field(default_factory=dict)
    # id() of a value held in ``values`` -> the task run that returned it: a value passed
    # on to another task (not as a future) still draws the edge. Only objects we keep
    # alive are listed, so an id is never reused by another object meanwhile.
    result_ids: dict[int, str] = field(default_factory=dict)
    # Futures submitted in this flow run, to wait for and to report unobserved failures.
    futures: list[Any] = field(default_factory=list)
    # cache key -> (result key, expiration) of results written in this process.
    cache_index: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    # Tag concurrency slots (engine.concurrency.TagSlots), made by the first tagged task.
    tag_slots: Any = None
    _keys: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_dynamic_key(self, task_key: str) -> int:
        """The n-th call of a task in this attempt gets key n (stable across attempts)."""
        with self._lock:
            key = self._keys.get(task_key, 0)
            self._keys[task_key] = key + 1
            return key


@dataclass(eq=False)
class TaskRunContext:
    task: Any
    task_run: TaskRun
    flow_run: FlowRunContext
    parameters: dict[str, Any]
    log_prints: bool

    def describe(self) -> dict[str, Any]:
        return describe_task_run(self)

    def enqueue(self, op: tuple[Any, ...]) -> None:
        self.flow_run.orchestrator.enqueue(op)


flow_run_context: ContextVar[FlowRunContext | None] = ContextVar("legato_flow_run", default=None)
task_run_context: ContextVar[TaskRunContext | None] = ContextVar("legato_task_run", default=None)


def get_run_context() -> TaskRunContext | FlowRunContext:
    """The innermost run executing here; raises if called outside a flow or task."""
    task_ctx = task_run_context.get()
    if task_ctx is not None:
        return task_ctx
    flow_ctx = flow_run_context.get()
    if flow_ctx is not None:
        return flow_ctx
    from legato.errors import LegatoError

    raise LegatoError("there is no run context here: call this inside a @flow or @task")


def describe_task_run(ctx: TaskRunContext) -> dict[str, Any]:
    """What a child process needs to label its log lines."""
    return {
        "flow_run_id": ctx.flow_run.flow_run_id,
        "flow_run_name": ctx.flow_run.flow_run_name,
        "task_run_id": ctx.task_run.id,
        "task_run_name": ctx.task_run.name,
        "log_prints": ctx.log_prints,
    }
