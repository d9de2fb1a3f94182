"""The run context: the one ambient value, carried by a contextvar.

Two layers. The engine's own contexts (:class:`FlowRunContext`, :class:`TaskRunContext`)
are mutable and hold its machinery (orchestrator, task runner, result store, counters);
legato's code reaches them through :func:`current_flow_run` and :func:`current_task_run`.
User code gets frozen records instead (:class:`FlowRunInfo`, :class:`TaskRunInfo`,
from :func:`get_run_context`), like Temporal's ``activity.info()``: reading them can
change nothing the engine relies on.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from legato.engine.results import ResultStore
from legato.errors import LegatoError
from legato.orchestrator.protocol import EngineBackend
from legato.schemas.previous import PreviousTaskRun as PreviousTaskRun

if TYPE_CHECKING:
    from legato.engine.protocols import TaskLike
    from legato.engine.runner import TaskRunner
    from legato.engine.task_run import TaskRun
    from legato.ops import Op


@dataclass(eq=False)
class FlowRunContext:
    """The engine's state of one attempt of a flow run: what its task calls need.

    Engine-private: user code reads :class:`FlowRunInfo` instead.
    """

    flow: Any
    flow_run_id: str | None  # None (and no flow): a task called outside any flow
    flow_run_name: str
    orchestrator: EngineBackend
    task_runner: TaskRunner
    result_store: ResultStore
    log_prints: bool
    attempt: int = 1
    parameters: dict[str, Any] = field(default_factory=dict)
    # The slot a run of a deployment stands for (its schedule's time, a backfilled
    # slot's time, or when it was asked for); None for a flow called from code.
    scheduled_time: datetime | None = None
    # The deployment the stored run belongs to (None for a flow called from code) and
    # the tags it is stored with (None: the flow's own, which a run made from code has;
    # a deployment's run also carries the deployment's).
    deployment_id: str | None = None
    tags: tuple[str, ...] | None = None
    # The flow run this one is a subflow of. The engine makes a run's context in its
    # caller's context, where the caller's flow run is the current one.
    parent: FlowRunContext | None = field(default_factory=lambda: current_flow_run())
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
    """The engine's state of the task run executing here (for ``get_run_logger``, the
    task runner and ``cache_key_fn``). Engine-private: user code reads :class:`TaskRunInfo`.
    """

    task: TaskLike
    task_run: TaskRun
    flow_run: FlowRunContext
    # The call's arguments, as its body receives them (the machine sets them again once
    # upstream futures are resolved). Named by :attr:`parameters` only when asked for:
    # binding them to the signature on every call would cost each task run.
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    log_prints: bool

    @property
    def parameters(self) -> dict[str, Any]:
        """The task run's parameters by name, defaults applied."""
        return self.task.bind(self.args, self.kwargs)

    def describe(self) -> dict[str, Any]:
        return describe_task_run(self)

    def enqueue(self, op: Op) -> None:
        self.flow_run.orchestrator.enqueue(op)


flow_run_context: ContextVar[FlowRunContext | None] = ContextVar("legato_flow_run", default=None)
task_run_context: ContextVar[TaskRunContext | None] = ContextVar("legato_task_run", default=None)


def current_flow_run() -> FlowRunContext | None:
    """The engine's context of the flow run executing here (None outside any)."""
    return flow_run_context.get()


def current_task_run() -> TaskRunContext | None:
    """The engine's context of the task run executing here (None outside any)."""
    return task_run_context.get()


def describe_task_run(ctx: TaskRunContext) -> dict[str, Any]:
    """What a child process needs to label its log lines."""
    return {
        "flow_run_id": ctx.flow_run.flow_run_id,
        "flow_run_name": ctx.flow_run.flow_run_name,
        "task_run_id": ctx.task_run.id,
        "task_run_name": ctx.task_run.name,
        "log_prints": ctx.log_prints,
    }


# -- what user code is told ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowRunInfo:
    """The flow run executing here, as ``legato.get_run_context()`` tells it in a flow.

    A snapshot: ``parameters`` is a read-only copy, and nothing here changes when the
    run goes on. The names follow the stored flow run (``run_count`` counts attempts,
    1 in the first; ``scheduled_time`` is its ``expected_start_time``).
    """

    flow_run_id: str
    flow_run_name: str
    flow_name: str
    parameters: Mapping[str, Any] = field(hash=False)
    run_count: int
    scheduled_time: datetime | None
    """The slot a run of a deployment stands for (its schedule's time, a backfilled
    slot's time, or when it was asked for); None for a flow called from code."""
    tags: tuple[str, ...]
    deployment_id: str | None
    """The deployment this is a run of; None for a flow called from code (and its subflows)."""
    parent_flow_run: FlowRunInfo | None
    """The flow run this one is a subflow of; None for a top-level run."""

    @property
    def id(self) -> str:
        """``flow_run_id``, under the name a Prefect state hook reads (``flow_run.id``)."""
        return self.flow_run_id

    @property
    def name(self) -> str:
        """``flow_run_name``, under the name a Prefect state hook reads."""
        return self.flow_run_name


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRunInfo:
    """The task run executing here, as ``legato.get_run_context()`` tells it in a task."""

    task_run_id: str
    task_run_name: str
    task_name: str
    parameters: Mapping[str, Any] = field(hash=False)
    run_count: int
    """The attempt running now: 1 in the first, 2 in the first retry, ..."""
    tags: tuple[str, ...]
    flow_run: FlowRunInfo | None
    """The flow run this task run belongs to; None for a task called outside any flow."""

    @property
    def id(self) -> str:
        """``task_run_id``, under the name a Prefect state hook reads (``task_run.id``)."""
        return self.task_run_id

    @property
    def name(self) -> str:
        """``task_run_name``, under the name a Prefect state hook reads."""
        return self.task_run_name


def flow_run_info(ctx: FlowRunContext) -> FlowRunInfo:
    """The frozen record of a flow run's context (and of its parents')."""
    assert ctx.flow_run_id is not None
    return FlowRunInfo(
        flow_run_id=ctx.flow_run_id,
        flow_run_name=ctx.flow_run_name,
        flow_name=ctx.flow.name,
        parameters=MappingProxyType(dict(ctx.parameters)),
        run_count=ctx.attempt,
        scheduled_time=ctx.scheduled_time,
        tags=ctx.tags if ctx.tags is not None else tuple(ctx.flow.tags),
        deployment_id=ctx.deployment_id,
        parent_flow_run=None if ctx.parent is None else flow_run_info(ctx.parent),
    )


def task_run_info(ctx: TaskRunContext) -> TaskRunInfo:
    """The frozen record of a task run's context."""
    task_run = ctx.task_run
    return TaskRunInfo(
        task_run_id=task_run.id,
        task_run_name=task_run.name,
        task_name=ctx.task.name,
        parameters=MappingProxyType(dict(ctx.parameters)),
        run_count=task_run.run_count,
        tags=tuple(task_run.tags),
        flow_run=None if ctx.flow_run.flow_run_id is None else flow_run_info(ctx.flow_run),
    )


def get_run_context() -> FlowRunInfo | TaskRunInfo:
    """The innermost run executing here, as a frozen record: a :class:`TaskRunInfo`
    inside a task (its ``flow_run`` is the flow run's), a :class:`FlowRunInfo` in a flow.

    Each call takes a new snapshot. Raises LegatoError outside a flow or task.
    """
    task_ctx = task_run_context.get()
    if task_ctx is not None:
        return task_run_info(task_ctx)
    flow_ctx = flow_run_context.get()
    if flow_ctx is not None and flow_ctx.flow_run_id is not None:
        return flow_run_info(flow_ctx)
    raise LegatoError("there is no run context here: call this inside a @flow or @task")
