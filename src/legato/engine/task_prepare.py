"""Making (or, on a rerun, finding) the task run of one task call, at call time.

Runs in the caller's thread when a task is called or submitted, so that a future's
task run id exists before the run starts and downstream edges can name it. It only
hands records to the batched writer; anything that waits (reading an earlier
attempt's stored value) is left to the task machine, which yields it.
"""

from __future__ import annotations

import time
from typing import Any

from legato.engine.context import FlowRunContext, PreviousTaskRun
from legato.engine.futures import LegatoFuture, find_futures
from legato.engine.protocols import RecordedTask
from legato.engine.tagging import with_block_tags
from legato.engine.task_run import TaskRun
from legato.ids import new_id
from legato.ops import RecordInput, RecordState
from legato.states import State, StateType

_COMPLETED = StateType.COMPLETED
_PENDING = StateType.PENDING


class Prepared:
    """A task call made ready to run: its task run, the upstream futures it waits for,
    and what an earlier attempt of this flow run left of it: its final state when its
    value is in memory (``reused``: nothing runs), or the stored Completed run whose
    value must be read before deciding (``previous``)."""

    __slots__ = ("args", "kwargs", "previous", "reused", "task_run", "upstream")

    def __init__(
        self,
        task_run: TaskRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        upstream: list[LegatoFuture[Any]],
        reused: State | None,
        previous: PreviousTaskRun | None = None,
    ):
        self.task_run = task_run
        self.args = args
        self.kwargs = kwargs
        self.upstream = upstream
        self.reused = reused
        self.previous = previous


def prepare_task_run(
    ctx: FlowRunContext,
    task: RecordedTask,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: list[Any] | None = None,
    *,
    name: str | None = None,
) -> Prepared:
    """Create (or, on a rerun, find) the task run of one call and record its edges."""
    if name is None and task.task_run_name is not None:
        name = task.run_name(args, kwargs)
    task_key = task.task_key
    dynamic_key = ctx.next_dynamic_key(task_key)
    upstream: list[LegatoFuture[Any]] = []
    for value in args:
        find_futures(value, upstream)
    for value in kwargs.values():
        find_futures(value, upstream)
    n_data = len(upstream)
    if wait_for:
        find_futures(list(wait_for), upstream)

    previous = ctx.previous.get((task_key, dynamic_key)) if ctx.previous else None
    if previous is not None:
        return _prepare_again(ctx, task, previous, args, kwargs, upstream, dynamic_key, name)

    task_run_id = new_id()
    created = time.time()
    task_run = TaskRun(
        id=task_run_id,
        flow_run_id=ctx.flow_run_id,
        name=name or f"{task.name}-{dynamic_key}",
        task_key=task_key,
        dynamic_key=dynamic_key,
        tags=with_block_tags(task.tags),
        state=State(_PENDING, "Pending", timestamp=created, run_id=task_run_id),
        created=created,
    )
    enqueue = ctx.orchestrator.enqueue
    enqueue(task_run.insert_op())
    enqueue(task_run.state_op())
    if upstream:
        _record_edges(ctx, task, task_run, args, kwargs, upstream, n_data)
    if ctx.result_ids:
        _record_value_edges(ctx, task, task_run, args, kwargs)
    ctx.runs_by_key[(task_key, dynamic_key)] = task_run
    ctx.active.add(task_run)
    return Prepared(task_run, args, kwargs, upstream, None)


def _prepare_again(
    ctx: FlowRunContext,
    task: RecordedTask,
    previous: PreviousTaskRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    upstream: list[LegatoFuture[Any]],
    dynamic_key: int,
    name: str | None,
) -> Prepared:
    """The task run of an earlier attempt, called again: reused when its value is in
    memory, left for the machine to read when it is stored, else run again."""
    completed = previous.state_type == _COMPLETED.value
    reused = (
        reused_state(ctx, previous, previous.value) if completed and previous.has_value else None
    )
    task_run = TaskRun(
        id=previous.id,
        flow_run_id=ctx.flow_run_id,
        name=name or f"{task.name}-{dynamic_key}",
        task_key=task.task_key,
        dynamic_key=dynamic_key,
        tags=with_block_tags(task.tags),
        state=reused if reused is not None else State(_PENDING, "Pending"),
        run_count=previous.run_count,
        created=previous.created,
        start_time=previous.start_time,
        end_time=previous.end_time,
        result_key=previous.result_key,
        subflow_run_id=previous.subflow_run_id,
    )
    ctx.runs_by_key[(task.task_key, dynamic_key)] = task_run
    if reused is not None:
        ctx.values[task_run.id] = (task_run, reused.data)
        return Prepared(task_run, args, kwargs, upstream, reused)
    if completed and previous.result_key:
        return Prepared(task_run, args, kwargs, upstream, None, previous)
    ctx.orchestrator.enqueue(run_again(ctx, task_run))
    return Prepared(task_run, args, kwargs, upstream, None)


def reused_state(ctx: FlowRunContext, previous: PreviousTaskRun, value: Any) -> State:
    """The Completed state of an earlier attempt, carrying its value."""
    return State(
        StateType.COMPLETED,
        previous.state_name,
        f"result reused from an earlier attempt of the flow run (attempt {ctx.attempt})",
        timestamp=previous.end_time or time.time(),
        result_key=previous.result_key,
        data=value,
        run_id=previous.id,
    )


def run_again(ctx: FlowRunContext, task_run: TaskRun) -> RecordState:
    """Make an earlier attempt's task run Pending for this attempt; the op recording it."""
    task_run.move_to(
        State(
            StateType.PENDING,
            "Pending",
            f"run again in attempt {ctx.attempt} of the flow run",
            run_id=task_run.id,
        )
    )
    # The counters describe the latest attempt; the history keeps the earlier ones.
    task_run.run_count = 0
    task_run.start_time = None
    task_run.end_time = None
    ctx.active.add(task_run)
    return task_run.state_op()


def _parameter_label(names: Any, index: int) -> str:
    return names[index] if index < len(names) else f"args[{index}]"


def _record_edges(
    ctx: FlowRunContext,
    task: RecordedTask,
    task_run: TaskRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    upstream: list[LegatoFuture[Any]],
    n_data: int,
) -> None:
    enqueue = ctx.orchestrator.enqueue
    names = task.parameter_names
    seen: set[tuple[str, str]] = set()

    def add(parameter: str, value: Any) -> None:
        found: list[LegatoFuture[Any]] = []
        find_futures(value, found)
        for future in found:
            if (parameter, future.task_run_id) not in seen:
                seen.add((parameter, future.task_run_id))
                enqueue(
                    RecordInput(
                        {
                            "task_run_id": task_run.id,
                            "parameter": parameter,
                            "upstream_id": future.task_run_id,
                        }
                    )
                )

    for index, value in enumerate(args):
        add(_parameter_label(names, index), value)
    for key, value in kwargs.items():
        add(key, value)
    for future in upstream[n_data:]:
        add("wait_for", future)


def _record_value_edges(
    ctx: FlowRunContext,
    task: RecordedTask,
    task_run: TaskRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Edges for arguments that are the very objects an earlier task run returned."""
    names = task.parameter_names
    result_ids = ctx.result_ids
    pairs = [(_parameter_label(names, index), value) for index, value in enumerate(args)]
    pairs.extend(kwargs.items())
    for parameter, value in pairs:
        upstream_id = result_ids.get(id(value))
        if upstream_id is not None and upstream_id != task_run.id:
            ctx.orchestrator.enqueue(
                RecordInput(
                    {
                        "task_run_id": task_run.id,
                        "parameter": parameter,
                        "upstream_id": upstream_id,
                    }
                )
            )
