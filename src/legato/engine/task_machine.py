"""The life of one task run after it was prepared, as a generator that does no I/O.

:func:`task_machine` yields :mod:`legato.engine.actions` - hand a state to the
writer, read a stored value, look a cache key up, take tag slots, call the user's
function, sleep before a retry - and is sent what each gave. The drivers in
:mod:`legato.engine.task_engine` perform them: inline in the calling thread, or on
an event loop with the blocking ones in a thread. Its phases, in order:

1. what an earlier attempt left (:func:`resume_previous`): its stored value, reused;
2. upstream futures: waited for; one that did not complete ends this run UpstreamFailed;
3. the cache (:func:`_look_up_cache`): a live entry ends the run Cached;
4. attempts: tag slots, Running (or Retrying), the body, then Completed with its
   result written (:func:`_write_result`), or a failure judged (:func:`judge_failure`):
   Failed / TimedOut / Crashed, or AwaitingRetry and a sleep before the next attempt.
   A body that returns a state ends in it (:mod:`legato.engine.returned`): a returned
   Failed is judged as a raised error would be, and retried the same way.

A state change of the task run is made in memory here and its record yielded for
the batched writer; once the flow run has ended the task run (it timed out or
crashed) a body that finishes later no longer changes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any

from legato.engine.actions import (
    AcquireSlots,
    Action,
    CallTask,
    LoadTagSlots,
    Log,
    LookUpCache,
    Outcome,
    ReadResult,
    ReleaseSlots,
    Sleep,
    WaitFor,
    WriteResult,
)
from legato.engine.cancels import cancel_reason, stopped
from legato.engine.concurrency import TagSlots
from legato.engine.context import FlowRunContext, TaskRunContext
from legato.engine.futures import LegatoFuture, failed_upstreams, resolve
from legato.engine.protocols import RecordedTask, TaskLike
from legato.engine.results import cache_result_key, task_result_key
from legato.engine.retries import RetryDecision, decide_retry
from legato.engine.returned import MAY_CARRY_STATES, returned_futures, returned_state
from legato.engine.task_prepare import Prepared, reused_state, run_again
from legato.engine.task_run import TaskRun
from legato.errors import (
    ResultNotAvailable,
    SerializationError,
    TaskTimeout,
    UpstreamFailedError,
    describe_error,
)
from legato.states import TERMINAL_TYPES, State, StateType
from legato.tracebacks import mark_logged, user_exc_info

Machine = Generator[Action, Any, State]

_COMPLETED = StateType.COMPLETED
_PENDING = StateType.PENDING
_RUNNING = StateType.RUNNING


def task_machine(tctx: TaskRunContext, task: TaskLike, prepared: Prepared) -> Machine:
    """The life of one task run after it was prepared; returns its final state."""
    ctx = tctx.flow_run
    task_run = prepared.task_run
    run_id = task_run.id
    if prepared.previous is not None:
        reused = yield from resume_previous(ctx, task, prepared)
        if reused is not None:
            return reused

    args, kwargs = prepared.args, prepared.kwargs
    if prepared.upstream:
        yield WaitFor(tuple(prepared.upstream))
        failed = upstream_failure(task_run, prepared.upstream)
        if failed is not None:
            return (yield from record(task_run, failed))
        args = resolve(args)
        kwargs = resolve(kwargs)
        tctx.args, tctx.kwargs = args, kwargs

    if task.cache_key_fn is not None:
        cached = yield from _look_up_cache(tctx, task, args, kwargs)
        if cached is not None:
            return cached

    limited: tuple[str, ...] = ()
    if task_run.tags and ctx.flow_run_id is not None:  # leases belong to a flow run
        slots: TagSlots | None = ctx.tag_slots
        if slots is None:
            slots = yield LoadTagSlots()
        limited = slots.limited_among(task_run.tags)

    while True:
        if limited:
            waiting = yield AcquireSlots(limited)
            if waiting is not None:
                yield from record(task_run, State(_PENDING, "Pending", waiting, run_id=run_id))
                yield AcquireSlots(limited, wait=True)
        if task_run.state.type not in TERMINAL_TYPES:
            task_run.move_to(
                State(_RUNNING, "Running", run_id=run_id)
                if task_run.run_count == 0
                else State(_RUNNING, "Retrying", f"attempt {task_run.run_count + 1}", run_id=run_id)
            )
            yield task_run.state_op()
        outcome: Outcome = yield CallTask(args, kwargs)
        if limited:
            yield ReleaseSlots()
        ok, value = outcome
        name, message = "Completed", None
        if ok and isinstance(value, MAY_CARRY_STATES):
            # A returned state (or future, or collection of them) says how the run ends.
            waiting = tuple(f for f in returned_futures(value) if not f.done())
            if waiting:
                yield WaitFor(waiting)
            returned = returned_state(value)
            if returned is not None:
                if returned.type is _COMPLETED:
                    value, name, message = returned.data, returned.name, returned.message
                else:
                    ok, value = False, returned
        if ok:
            result_key: str | None = None
            if task.persist_result or task_run.cache_key is not None:
                written = yield from _write_result(ctx, task, task_run, value)
                if isinstance(written, State):
                    return written
                result_key = written
            completed = State(
                _COMPLETED, name, message, result_key=result_key, data=value, run_id=run_id
            )
            if task_run.state.type in TERMINAL_TYPES:
                return task_run.state
            task_run.move_to(completed)
            yield task_run.state_op()
            return completed

        if not ok and not isinstance(value, Exception | State) and stopped(value):
            reason = yield from cancel_reason(ctx.flow_run_id)
            if reason is not None:  # its flow run is being cancelled: this is why it stops
                cancelled = State(
                    StateType.CANCELLED, "Cancelled", reason, exception=value, run_id=run_id
                )
                return (yield from record(task_run, cancelled))
        ending, decision = judge_failure(task, task_run, value)
        if decision is None or not decision.retry:
            if decision is not None:
                yield _failure_log(ctx, task, task_run, ending, decision)
            return (yield from record(task_run, ending))
        yield from _await_retry(ctx, task, task_run, ending, decision)


def record(task_run: TaskRun, state: State) -> Generator[Action, Any, State]:
    """Move the task run to ``state`` and hand it to the writer; the state it ends in
    (the one it had, if the flow run already ended it)."""
    if task_run.state.type in TERMINAL_TYPES:
        return task_run.state
    task_run.move_to(state)
    yield task_run.state_op()
    return state


def resume_previous(
    ctx: FlowRunContext, task: RecordedTask, prepared: Prepared
) -> Generator[Action, Any, State | None]:
    """An earlier attempt completed this task run and stored its value: reuse it if it
    can still be read (the final state, carrying it), else make the run Pending again
    for this attempt (None: go on and run it)."""
    previous = prepared.previous
    assert previous is not None and previous.result_key is not None
    task_run = prepared.task_run
    try:
        value = yield ReadResult(task.result_store_for(ctx), previous.result_key)
    except ResultNotAvailable:
        yield run_again(ctx, task_run)
        return None
    reused = reused_state(ctx, previous, value)
    task_run.state = reused
    ctx.values[task_run.id] = (task_run, value)
    return reused


def upstream_failure(task_run: TaskRun, upstream: list[LegatoFuture[Any]]) -> State | None:
    """UpstreamFailed, naming the first few upstream runs that did not complete; None
    when all did."""
    bad = list(failed_upstreams(upstream))
    if not bad:
        return None
    names = ", ".join(f"{f._task_run.name} ({f.state.name})" for f in bad[:5])
    message = f"did not run: upstream task run {names} did not complete"
    return State(
        StateType.FAILED,
        "UpstreamFailed",
        message,
        exception=UpstreamFailedError(f"task run {task_run.name!r} {message}"),
        run_id=task_run.id,
    )


def _look_up_cache(
    tctx: TaskRunContext, task: TaskLike, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Generator[Action, Any, State | None]:
    """The Cached final state when the task's cache key has a live, readable entry;
    None to run the body (the key, if any, is kept on the task run for the write)."""
    assert task.cache_key_fn is not None
    ctx = tctx.flow_run
    task_run = tctx.task_run
    key = task.cache_key_fn(tctx, task.bind(args, kwargs))
    if key is None:
        return None
    key = str(key)
    task_run.cache_key = key
    if task.refresh_cache:
        return None
    now = time.time()
    local = ctx.cache_index.get(key)
    if local is not None and (local[1] is None or local[1] > now):
        result_key: str | None = local[0]
    else:
        result_key = yield LookUpCache(key, now)
    if result_key is None:
        return None
    try:
        value = yield ReadResult(task.result_store_for(ctx), result_key)
    except ResultNotAvailable:
        return None
    task_run.result_key = result_key
    cached = State(
        StateType.COMPLETED,
        "Cached",
        "result read from the cache",
        result_key=result_key,
        data=value,
        run_id=task_run.id,
    )
    return (yield from record(task_run, cached))


def _write_result(
    ctx: FlowRunContext, task: TaskLike, task_run: TaskRun, value: Any
) -> Generator[Action, Any, str | State]:
    """Write the body's value where it is kept (its cache entry, or the run's own key);
    the key written, or the Failed final state when the value cannot be pickled."""
    if task_run.cache_key is not None:
        result_key = cache_result_key(task_run.cache_key)
    else:
        result_key = task_result_key(ctx.flow_run_id, task_run.id)
    try:
        yield WriteResult(task.result_store_for(ctx), result_key, value)
    except SerializationError as exc:
        failed = State(StateType.FAILED, "Failed", str(exc), exception=exc, run_id=task_run.id)
        return (yield from record(task_run, failed))
    task_run.result_key = result_key
    if task_run.cache_key is not None:
        # Expiry counts from when the value was computed; Cached runs that reuse it do
        # not extend it (they are never cache sources themselves).
        if task.cache_expiration is not None:
            task_run.cache_expiration = time.time() + task.cache_expiration.total_seconds()
        ctx.cache_index[task_run.cache_key] = (result_key, task_run.cache_expiration)
    return result_key


def judge_failure(
    task: TaskLike, task_run: TaskRun, error: BaseException | State
) -> tuple[State, RetryDecision | None]:
    """What a body that raised ``error`` (or returned a final state other than
    Completed) leads to: the state the run ends in if it is not retried, and the retry
    decision (None for a crash: a signal or an interrupt, the process is going away, and
    nothing is retried; None too for a returned Crashed or Cancelled state)."""
    run_id = task_run.id
    if isinstance(error, State):
        if error.type is not StateType.FAILED:
            return State(
                error.type, error.name, error.message, exception=error.exception, run_id=run_id
            ), None
        name, message, exception = error.name, error.message, error.exception
    elif not isinstance(error, Exception):
        return State(
            StateType.CRASHED, "Crashed", describe_error(error), exception=error, run_id=run_id
        ), None
    else:
        name = "TimedOut" if isinstance(error, TaskTimeout) else "Failed"
        message, exception = describe_error(error), error
    failed = State(StateType.FAILED, name, message, exception=exception, run_id=run_id)
    allows = True
    if task.retry_condition_fn is not None and task_run.run_count <= task.retries:
        try:
            allows = bool(task.retry_condition_fn(task, task_run, failed))
        except Exception as cond_error:
            allows = False
            failed = State(
                StateType.FAILED,
                name,
                f"{message or name} (retry_condition_fn raised {describe_error(cond_error)})",
                exception=exception,
                run_id=run_id,
            )
    decision = decide_retry(
        run_count=task_run.run_count,
        retries=task.retries,
        delay=task.retry_delay_seconds,
        jitter_factor=task.retry_jitter_factor,
        condition_allows=allows,
    )
    return failed, decision


def _failure_log(
    ctx: FlowRunContext,
    task: TaskLike,
    task_run: TaskRun,
    failed: State,
    decision: RetryDecision,
) -> Log:
    error = failed.exception
    log = Log(
        task.logger_for(ctx, task_run),
        logging.ERROR,
        "Task run %r failed: %s%s",
        (task_run.name, _why(failed), f" ({decision.reason})" if task.retries else ""),
        user_exc_info(error) if error is not None else None,
    )
    if error is not None:
        mark_logged(error, task_run.name)
    return log


def _await_retry(
    ctx: FlowRunContext,
    task: TaskLike,
    task_run: TaskRun,
    failed: State,
    decision: RetryDecision,
) -> Generator[Action, Any, None]:
    """AwaitingRetry, said in the run's log, then the retry's delay."""
    now = time.time()
    yield from record(
        task_run,
        State(
            StateType.SCHEDULED,
            "AwaitingRetry",
            f"{_why(failed)}; {decision.reason} in {decision.delay:.3g}s",
            timestamp=now,
            scheduled_time=now + decision.delay,
            run_id=task_run.id,
        ),
    )
    yield Log(
        task.logger_for(ctx, task_run),
        logging.WARNING,
        "Task run %r failed (%s); %s in %.3gs",
        (task_run.name, _why(failed), decision.reason, decision.delay),
    )
    if decision.delay > 0:
        yield Sleep(decision.delay)


def _why(failed: State) -> str:
    """What a failure says in a log line: its message (a returned Failed may have none)."""
    return failed.message or f"the task returned a {failed.name} state"
