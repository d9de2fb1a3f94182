"""Running one task run: the drivers of the task machine, and the bookkeeping around them.

The rules live once, in :func:`legato.engine.task_machine.task_machine`, a generator
that does no I/O. :func:`run_task_sync` performs what it yields in this thread;
:func:`run_task_async` on the running event loop, with every blocking action (a
result read or write, a cache look-up, a concurrency-limit call) in a thread so
that other tasks of an async flow go on meanwhile. Task-run states are handed to
the orchestrator's batched writer inline in both: that is why tracking a task
costs microseconds, and why an async task adds no thread hop when it uses neither
caching, persisted results nor limited tags.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from typing import Any

from legato.engine.actions import (
    AcquireSlots,
    Action,
    CallHooks,
    CallTask,
    LoadTagSlots,
    ReleaseSlots,
    Sleep,
    WaitFor,
)
from legato.engine.concurrency import load_tag_slots
from legato.engine.context import FlowRunContext, TaskRunContext, task_run_context
from legato.engine.futures import LegatoFuture
from legato.engine.hooks import call_hooks, call_hooks_async, with_task_hooks
from legato.engine.performing import perform, perform_async
from legato.engine.protocols import RecordedTask, TaskLike
from legato.engine.task_machine import task_machine
from legato.engine.task_prepare import Prepared, prepare_task_run
from legato.engine.task_run import TaskRun
from legato.engine.timeouts import call_with_timeout
from legato.errors import LegatoError, TaskTimeout, describe_error
from legato.ops import RecordState
from legato.states import State, StateType

__all__ = [
    "Prepared",
    "finish",
    "prepare_task_run",
    "run_task_async",
    "run_task_sync",
    "submit_task",
]

_COMPLETED = StateType.COMPLETED
_STOPPED_TYPES = (StateType.CRASHED, StateType.CANCELLED)
# Values Python shares between unrelated places (small ints, interned strings, None):
# their identity says nothing about where they came from.
_SHARED_TYPES = frozenset({int, float, str, bool, bytes, type(None), complex})


def run_task_sync(ctx: FlowRunContext, task: TaskLike, prepared: Prepared) -> State:
    """Drive a task run to its final state in this thread.

    Every task call comes through here, so the loop is written out in one frame: the
    records the machine yields go straight to the writer's queue, and its body call
    needs no helper.
    """
    tctx = _task_context(ctx, task, prepared)
    token = task_run_context.set(tctx)
    try:
        machine = task_machine(tctx, task, prepared)
        if task.state_hooks is not None:
            machine = with_task_hooks(machine, tctx, task.state_hooks)
        send = machine.send
        enqueue = ctx.orchestrator.enqueue
        outcome: Any
        try:
            action: Action = next(machine)
            while True:
                try:
                    if type(action) is RecordState:
                        enqueue(action)
                        outcome = None
                    elif type(action) is CallTask:
                        try:
                            timeout = task.timeout_seconds
                            if timeout is None:
                                value = ctx.task_runner.call(
                                    task.fn, action.args, action.kwargs, tctx, task.is_async
                                )
                            else:
                                value = _call_with_timeout(tctx, task, action, timeout)
                            outcome = (True, value)
                        except BaseException as exc:
                            outcome = (False, exc)
                    else:
                        outcome = _perform_sync(action, tctx)
                except BaseException as exc:
                    action = machine.throw(exc)
                    continue
                action = send(outcome)
        except StopIteration as stop:
            state: State = stop.value
    except Exception as exc:
        state = _internal_crash(ctx, prepared.task_run, exc)
    finally:
        task_run_context.reset(token)
    return _conclude(ctx, task, prepared, state)


def _task_context(ctx: FlowRunContext, task: TaskLike, prepared: Prepared) -> TaskRunContext:
    log_prints = task.log_prints
    return TaskRunContext(
        task,
        prepared.task_run,
        ctx,
        prepared.args,
        prepared.kwargs,
        ctx.log_prints if log_prints is None else log_prints,
    )


def _call_with_timeout(
    tctx: TaskRunContext, task: TaskLike, action: CallTask, timeout: float
) -> Any:
    runner = tctx.flow_run.task_runner
    return call_with_timeout(
        functools.partial(runner.call, task.fn, action.args, action.kwargs, tctx, task.is_async),
        timeout,
        f"task run {tctx.task_run.name!r}",
    )


def _perform_sync(action: Action, tctx: TaskRunContext) -> Any:
    ctx = tctx.flow_run
    if isinstance(action, Sleep):
        time.sleep(action.seconds)
    elif isinstance(action, WaitFor):
        for future in action.futures:
            future.wait()
    elif isinstance(action, LoadTagSlots):
        return load_tag_slots(ctx)
    elif isinstance(action, AcquireSlots):
        return ctx.tag_slots.acquire(tctx.task_run, list(action.tags), action.wait)
    elif isinstance(action, ReleaseSlots):
        ctx.tag_slots.release(tctx.task_run.id)
    elif type(action) is CallHooks:
        call_hooks(action)
    else:
        return perform(action, ctx.orchestrator)
    return None


async def run_task_async(ctx: FlowRunContext, task: TaskLike, prepared: Prepared) -> State:
    """Drive a task run to its final state on the running event loop.

    As in :func:`run_task_sync`, the loop is written out in this one coroutine: an
    async flow gathers its task runs on one event loop, and each coroutine frame less
    (and each call to its body made here rather than in a helper) is time the loop
    spends on the user's work instead.
    """
    tctx = _task_context(ctx, task, prepared)
    token = task_run_context.set(tctx)
    try:
        machine = task_machine(tctx, task, prepared)
        if task.state_hooks is not None:
            machine = with_task_hooks(machine, tctx, task.state_hooks)
        send = machine.send
        enqueue = ctx.orchestrator.enqueue
        outcome: Any
        try:
            action: Action = next(machine)
            while True:
                try:
                    if type(action) is RecordState:
                        enqueue(action)
                        outcome = None
                    elif type(action) is CallTask:
                        if task.is_async and task.timeout_seconds is None:
                            try:
                                outcome = (True, await task.fn(*action.args, **action.kwargs))
                            except BaseException as exc:
                                outcome = (False, exc)
                        else:
                            outcome = await _call_async(tctx, task, action)
                    else:
                        outcome = await _perform_async(action, tctx)
                except BaseException as exc:
                    action = machine.throw(exc)
                    continue
                action = send(outcome)
        except StopIteration as stop:
            state: State = stop.value
    except Exception as exc:
        state = _internal_crash(ctx, prepared.task_run, exc)
    finally:
        task_run_context.reset(token)
    return _conclude(ctx, task, prepared, state)


async def _call_async(tctx: TaskRunContext, task: TaskLike, action: CallTask) -> tuple[bool, Any]:
    """The body of a task with a timeout, or of a sync task run from an async driver."""
    fn, timeout = task.fn, task.timeout_seconds
    try:
        if not task.is_async:
            value = fn(*action.args, **action.kwargs)
        elif timeout is None:
            value = await fn(*action.args, **action.kwargs)
        else:
            try:
                async with asyncio.timeout(timeout):
                    value = await fn(*action.args, **action.kwargs)
            except TimeoutError:
                raise TaskTimeout(
                    f"task run {tctx.task_run.name!r} exceeded its timeout of {timeout:g} seconds"
                ) from None
    except BaseException as exc:
        return (False, exc)
    return (True, value)


async def _perform_async(action: Action, tctx: TaskRunContext) -> Any:
    ctx = tctx.flow_run
    if isinstance(action, Sleep):
        await asyncio.sleep(action.seconds)
    elif isinstance(action, WaitFor):
        for future in action.futures:
            await future.wait_async()
    elif isinstance(action, LoadTagSlots):
        slots = ctx.tag_slots
        return slots if slots is not None else await asyncio.to_thread(load_tag_slots, ctx)
    elif isinstance(action, AcquireSlots):
        return await ctx.tag_slots.acquire_async(tctx.task_run, list(action.tags), action.wait)
    elif isinstance(action, ReleaseSlots):
        await asyncio.to_thread(ctx.tag_slots.release, tctx.task_run.id)
    elif type(action) is CallHooks:
        await call_hooks_async(action)
    else:
        return await perform_async(action, ctx.orchestrator)
    return None


def finish(ctx: FlowRunContext, task: RecordedTask, task_run: TaskRun, state: State) -> None:
    """Bookkeeping after a task run ended: keep its value for reruns, drop it from active."""
    ctx.active.discard(task_run)
    if state.type is _COMPLETED and task.persist_result is not False:
        data = state.data
        ctx.values[task_run.id] = (task_run, data)
        if type(data) not in _SHARED_TYPES:
            ctx.result_ids[id(data)] = task_run.id


def _conclude(ctx: FlowRunContext, task: TaskLike, prepared: Prepared, state: State) -> State:
    """The drivers' common end: bookkeeping, and a crash (a signal, an interrupt) goes on
    up, as does the signal that stopped a task run of a flow run being cancelled."""
    finish(ctx, task, prepared.task_run, state)
    if ctx.tag_slots is not None:  # slots left by a machine that did not end normally
        ctx.tag_slots.release(prepared.task_run.id)
    if state.type in _STOPPED_TYPES and not isinstance(state.exception, Exception | None):
        raise state.exception
    return state


def _internal_crash(ctx: FlowRunContext, task_run: TaskRun, exc: Exception) -> State:
    """legato itself failed while running this task: record Crashed, never Running forever."""
    reason = "legato error" if isinstance(exc, LegatoError) else "internal error in legato"
    state = State(
        StateType.CRASHED,
        "Crashed",
        f"{reason}: {describe_error(exc)}",
        exception=exc,
        run_id=task_run.id,
    )
    with contextlib.suppress(Exception):
        task_run.move_to(state)
        ctx.orchestrator.enqueue(task_run.state_op())
    return state


def submit_task(ctx: FlowRunContext, task: TaskLike, prepared: Prepared) -> LegatoFuture[Any]:
    """Start a prepared task run on the flow's task runner; return its future."""
    from legato.engine.runner import submit_after

    future: LegatoFuture[Any] = LegatoFuture(prepared.task_run)
    ctx.futures.append(future)
    if prepared.reused is not None:
        future.set_state(prepared.reused)
        return future

    def work() -> None:
        try:
            state = run_task_sync(ctx, task, prepared)
        except BaseException as exc:
            state = prepared.task_run.state
            if not state.is_final():
                state = _internal_crash(ctx, prepared.task_run, Exception(describe_error(exc)))
        future.set_state(state)

    submit_after(ctx.task_runner, work, prepared.upstream)
    return future
