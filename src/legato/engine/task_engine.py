"""One task run as a series of state proposals.

The rules live once, in :func:`task_machine`, a generator that never blocks: it
yields what it needs done - call the user's function, sleep before a retry,
wait for upstream futures - and the sync and async drivers below do it. Its
state changes are enqueued to the orchestrator's batched writer, which is why
tracking a task costs microseconds.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Generator
from typing import Any

from legato.engine.concurrency import ACQUIRE, RELEASE, limited_tags
from legato.engine.concurrency import WAIT as WAIT_SLOTS
from legato.engine.context import (
    FlowRunContext,
    PreviousTaskRun,
    TaskRunContext,
    task_run_context,
)
from legato.engine.futures import LegatoFuture, failed_upstreams, find_futures, resolve
from legato.engine.results import cache_result_key, task_result_key
from legato.engine.retries import decide_retry
from legato.engine.task_run import TaskRun
from legato.engine.timeouts import call_with_timeout
from legato.errors import (
    LegatoError,
    ResultNotAvailable,
    SerializationError,
    TaskTimeout,
    UpstreamFailedError,
    describe_error,
)
from legato.ids import new_id
from legato.states import TERMINAL_TYPES, State, StateType

# What the machine yields to its driver.
CALL = "call"  # (CALL, args, kwargs): run the user's function, send back (ok, value)
SLEEP = "sleep"  # (SLEEP, seconds)
WAIT = "wait"  # (WAIT, futures): block until these are done
SLOTS = "slots"  # (SLOTS, op, tags): take or give back tag concurrency slots; sends back
# None, or (op ACQUIRE) why the task run must wait for them

Action = tuple[Any, ...]
_COMPLETED = StateType.COMPLETED
_PENDING = StateType.PENDING
# Values Python shares between unrelated places (small ints, interned strings, None):
# their identity says nothing about where they came from.
_SHARED_TYPES = frozenset({int, float, str, bool, bytes, type(None), complex})
_RUNNING = StateType.RUNNING


class Prepared:
    """A task call made ready to run: its task run, the upstream futures it waits for,
    and - when an earlier attempt of this flow run already produced its value - that
    final state, in which case nothing runs."""

    __slots__ = ("args", "kwargs", "reused", "task_run", "upstream")

    def __init__(
        self,
        task_run: TaskRun,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        upstream: list[LegatoFuture[Any]],
        reused: State | None,
    ):
        self.task_run = task_run
        self.args = args
        self.kwargs = kwargs
        self.upstream = upstream
        self.reused = reused


def prepare_task_run(
    ctx: FlowRunContext,
    task: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    wait_for: list[Any] | None = None,
    *,
    name: str | None = None,
) -> Prepared:
    """Create (or, on a rerun, find) the task run of one call and record its edges.

    Runs in the caller's thread, at call or submit time, so a future's task run id
    exists before the run starts and downstream edges can name it.
    """
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
        reused = _reuse(ctx, task, previous)
        task_run = TaskRun(
            id=previous.id,
            flow_run_id=ctx.flow_run_id,
            name=name or f"{task.name}-{dynamic_key}",
            task_key=task_key,
            dynamic_key=dynamic_key,
            tags=task.tags,
            state=reused if reused is not None else State(StateType.PENDING, "Pending"),
            run_count=previous.run_count,
            created=previous.created,
            start_time=previous.start_time,
            end_time=previous.end_time,
            result_key=previous.result_key,
            subflow_run_id=previous.subflow_run_id,
        )
        ctx.runs_by_key[(task_key, dynamic_key)] = task_run
        if reused is not None:
            ctx.values[task_run.id] = (task_run, reused.data)
            return Prepared(task_run, args, kwargs, upstream, reused)
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
        ctx.orchestrator.enqueue(task_run.state_op())
        ctx.active.add(task_run)
        return Prepared(task_run, args, kwargs, upstream, None)

    task_run_id = new_id()
    created = time.time()
    task_run = TaskRun(
        id=task_run_id,
        flow_run_id=ctx.flow_run_id,
        name=name or f"{task.name}-{dynamic_key}",
        task_key=task_key,
        dynamic_key=dynamic_key,
        tags=task.tags,
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


def _reuse(ctx: FlowRunContext, task: Any, previous: PreviousTaskRun) -> State | None:
    """The Completed state of an earlier attempt, with its value, if that value is at hand."""
    if previous.state_type != _COMPLETED.value:
        return None
    if previous.has_value:
        value = previous.value
    elif previous.result_key:
        try:
            value = task.result_store_for(ctx).read(previous.result_key)
        except ResultNotAvailable:
            return None
    else:
        return None
    return State(
        StateType.COMPLETED,
        previous.state_name,
        f"result reused from an earlier attempt of the flow run (attempt {ctx.attempt})",
        timestamp=previous.end_time or time.time(),
        result_key=previous.result_key,
        data=value,
        run_id=previous.id,
    )


def _record_edges(
    ctx: FlowRunContext,
    task: Any,
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
                    (
                        "input",
                        {
                            "task_run_id": task_run.id,
                            "parameter": parameter,
                            "upstream_id": future.task_run_id,
                        },
                    )
                )

    for index, value in enumerate(args):
        add(names[index] if index < len(names) else f"args[{index}]", value)
    for key, value in kwargs.items():
        add(key, value)
    for future in upstream[n_data:]:
        add("wait_for", future)


def _record_value_edges(
    ctx: FlowRunContext,
    task: Any,
    task_run: TaskRun,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Edges for arguments that are the very objects an earlier task run returned."""
    names = task.parameter_names
    result_ids = ctx.result_ids
    pairs = [
        (names[index] if index < len(names) else f"args[{index}]", value)
        for index, value in enumerate(args)
    ]
    pairs.extend(kwargs.items())
    for parameter, value in pairs:
        upstream_id = result_ids.get(id(value))
        if upstream_id is not None and upstream_id != task_run.id:
            ctx.orchestrator.enqueue(
                (
                    "input",
                    {
                        "task_run_id": task_run.id,
                        "parameter": parameter,
                        "upstream_id": upstream_id,
                    },
                )
            )


def task_machine(
    ctx: FlowRunContext, task: Any, prepared: Prepared
) -> Generator[Action, Any, State]:
    """The life of one task run after it was prepared; returns its final state."""
    task_run = prepared.task_run
    enqueue = ctx.orchestrator.enqueue
    args, kwargs = prepared.args, prepared.kwargs
    run_id = task_run.id

    def move(state: State) -> State:
        if task_run.state.type in TERMINAL_TYPES:
            # The flow run already ended this task run (it timed out or crashed);
            # a body that finishes afterwards does not rewrite its history.
            return task_run.state
        task_run.move_to(state)
        enqueue(task_run.state_op())
        return state

    if prepared.upstream:
        yield (WAIT, prepared.upstream)
        bad = list(failed_upstreams(prepared.upstream))
        if bad:
            names = ", ".join(f"{f._task_run.name} ({f.state.name})" for f in bad[:5])
            message = f"did not run: upstream task run {names} did not complete"
            return move(
                State(
                    StateType.FAILED,
                    "UpstreamFailed",
                    message,
                    exception=UpstreamFailedError(f"task run {task_run.name!r} {message}"),
                    run_id=run_id,
                )
            )
        args = resolve(args)
        kwargs = resolve(kwargs)

    store = None
    if task.cache_key_fn is not None:
        parameters = task.bind(args, kwargs)
        tctx = task_run_context.get()
        key = task.cache_key_fn(tctx, parameters)
        if key is not None:
            key = str(key)
            task_run.cache_key = key
            if not task.refresh_cache:
                hit = _cache_lookup(ctx, task, key)
                if hit is not None:
                    cached_key, cached_value = hit
                    task_run.result_key = cached_key
                    return move(
                        State(
                            StateType.COMPLETED,
                            "Cached",
                            "result read from the cache",
                            result_key=cached_key,
                            data=cached_value,
                            run_id=run_id,
                        )
                    )

    limited = limited_tags(ctx, task.tags) if task.tags else None
    while True:
        if limited:
            waiting = yield (SLOTS, ACQUIRE, limited)
            if waiting is not None:
                move(State(_PENDING, "Pending", waiting, run_id=run_id))
                yield (SLOTS, WAIT_SLOTS, limited)
        if task_run.run_count == 0:
            move(State(_RUNNING, "Running", run_id=run_id))
        else:
            move(
                State(
                    StateType.RUNNING,
                    "Retrying",
                    f"attempt {task_run.run_count + 1}",
                    run_id=run_id,
                )
            )
        ok, value = yield (CALL, args, kwargs)
        if limited:
            yield (SLOTS, RELEASE, limited)
        if ok:
            result_key: str | None = None
            if task.persist_result or task_run.cache_key is not None:
                store = task.result_store_for(ctx)
                result_key = (
                    cache_result_key(task_run.cache_key)
                    if task_run.cache_key is not None
                    else task_result_key(ctx.flow_run_id, run_id)
                )
                try:
                    store.write(result_key, value)
                except SerializationError as exc:
                    return move(
                        State(StateType.FAILED, "Failed", str(exc), exception=exc, run_id=run_id)
                    )
                task_run.result_key = result_key
                if task_run.cache_key is not None:
                    # Expiry counts from when the value was computed; Cached runs that
                    # reuse it do not extend it (they are never cache sources themselves).
                    if task.cache_expiration is not None:
                        task_run.cache_expiration = (
                            time.time() + task.cache_expiration.total_seconds()
                        )
                    ctx.cache_index[task_run.cache_key] = (result_key, task_run.cache_expiration)
            return move(
                State(
                    StateType.COMPLETED,
                    "Completed",
                    result_key=result_key,
                    data=value,
                    run_id=run_id,
                )
            )

        error: BaseException = value
        if not isinstance(error, Exception):
            # KeyboardInterrupt, SystemExit, a signal: the process is going away.
            return move(
                State(
                    StateType.CRASHED,
                    "Crashed",
                    describe_error(error),
                    exception=error,
                    run_id=run_id,
                )
            )
        name = "TimedOut" if isinstance(error, TaskTimeout) else "Failed"
        failed = State(
            StateType.FAILED, name, describe_error(error), exception=error, run_id=run_id
        )
        allows = True
        if task.retry_condition_fn is not None and task_run.run_count <= task.retries:
            try:
                allows = bool(task.retry_condition_fn(task, task_run, failed))
            except Exception as cond_error:
                allows = False
                failed = State(
                    StateType.FAILED,
                    name,
                    f"{describe_error(error)} (retry_condition_fn raised {describe_error(cond_error)})",
                    exception=error,
                    run_id=run_id,
                )
        decision = decide_retry(
            run_count=task_run.run_count,
            retries=task.retries,
            delay=task.retry_delay_seconds,
            jitter_factor=task.retry_jitter_factor,
            condition_allows=allows,
        )
        if not decision.retry:
            task.logger_for(ctx, task_run).error(
                "Task run %r failed: %s%s",
                task_run.name,
                failed.message,
                f" ({decision.reason})" if task.retries else "",
                exc_info=(type(error), error, error.__traceback__),
            )
            return move(failed)
        now = time.time()
        move(
            State(
                StateType.SCHEDULED,
                "AwaitingRetry",
                f"{describe_error(error)}; {decision.reason} in {decision.delay:.3g}s",
                timestamp=now,
                scheduled_time=now + decision.delay,
                run_id=run_id,
            )
        )
        task.logger_for(ctx, task_run).warning(
            "Task run %r failed (%s); %s in %.3gs",
            task_run.name,
            describe_error(error),
            decision.reason,
            decision.delay,
        )
        if decision.delay > 0:
            yield (SLEEP, decision.delay)


def _cache_lookup(ctx: FlowRunContext, task: Any, key: str) -> tuple[str, Any] | None:
    now = time.time()
    local = ctx.cache_index.get(key)
    if local is not None and (local[1] is None or local[1] > now):
        result_key: str | None = local[0]
    else:
        result_key = ctx.orchestrator.find_cached_result(key, now)
    if result_key is None:
        return None
    try:
        return result_key, task.result_store_for(ctx).read(result_key)
    except ResultNotAvailable:
        return None


def finish(ctx: FlowRunContext, task: Any, task_run: TaskRun, state: State) -> None:
    """Bookkeeping after a task run ended: keep its value for reruns, drop it from active."""
    ctx.active.discard(task_run)
    if state.type is _COMPLETED and task.persist_result is not False:
        data = state.data
        ctx.values[task_run.id] = (task_run, data)
        if type(data) not in _SHARED_TYPES:
            ctx.result_ids[id(data)] = task_run.id


def _conclude(ctx: FlowRunContext, task: Any, prepared: Prepared, state: State) -> State:
    """The drivers' common end: bookkeeping, and a crash (a signal, an interrupt) goes on up."""
    finish(ctx, task, prepared.task_run, state)
    if ctx.tag_slots is not None:  # slots left by a machine that did not end normally
        ctx.tag_slots.release(prepared.task_run.id)
    if state.type is StateType.CRASHED and not isinstance(state.exception, Exception | None):
        raise state.exception
    return state


def _task_context(ctx: FlowRunContext, task: Any, prepared: Prepared) -> TaskRunContext:
    log_prints = task.log_prints if task.log_prints is not None else ctx.log_prints
    return TaskRunContext(task, prepared.task_run, ctx, {}, log_prints)


def run_task_sync(ctx: FlowRunContext, task: Any, prepared: Prepared) -> State:
    """Drive a task run to its final state in this thread."""
    tctx = _task_context(ctx, task, prepared)
    token = task_run_context.set(tctx)
    try:
        machine = task_machine(ctx, task, prepared)
        runner = ctx.task_runner
        timeout = task.timeout_seconds
        fn = task.fn
        is_async = task.is_async
        try:
            action = next(machine)
            while True:
                kind = action[0]
                if kind is CALL:
                    try:
                        if timeout is not None:
                            value = call_with_timeout(
                                functools.partial(
                                    runner.call, fn, action[1], action[2], tctx, is_async
                                ),
                                timeout,
                                f"task run {prepared.task_run.name!r}",
                            )
                        else:
                            value = runner.call(fn, action[1], action[2], tctx, is_async)
                        sent: tuple[bool, Any] = (True, value)
                    except BaseException as exc:
                        sent = (False, exc)
                    action = machine.send(sent)
                elif kind is SLEEP:
                    time.sleep(action[1])
                    action = next(machine)
                elif kind is SLOTS:
                    action = machine.send(
                        ctx.tag_slots.run(action[1], prepared.task_run, action[2])
                    )
                else:
                    for future in action[1]:
                        future.wait()
                    action = next(machine)
        except StopIteration as stop:
            state: State = stop.value
    except Exception as exc:
        state = _internal_crash(ctx, prepared.task_run, exc)
    finally:
        task_run_context.reset(token)
    return _conclude(ctx, task, prepared, state)


async def run_task_async(ctx: FlowRunContext, task: Any, prepared: Prepared) -> State:
    """Drive a task run to its final state on the running event loop."""
    import asyncio

    tctx = _task_context(ctx, task, prepared)
    token = task_run_context.set(tctx)
    try:
        machine = task_machine(ctx, task, prepared)
        timeout = task.timeout_seconds
        try:
            action = next(machine)
            while True:
                kind = action[0]
                if kind is CALL:
                    try:
                        value = await _call_async(
                            task.fn, action[1], action[2], timeout, prepared.task_run.name
                        )
                        sent: tuple[bool, Any] = (True, value)
                    except BaseException as exc:
                        sent = (False, exc)
                    action = machine.send(sent)
                elif kind is SLEEP:
                    await asyncio.sleep(action[1])
                    action = next(machine)
                elif kind is SLOTS:
                    waiting = await ctx.tag_slots.run_async(action[1], prepared.task_run, action[2])
                    action = machine.send(waiting)
                else:
                    for future in action[1]:
                        await future.wait_async()
                    action = next(machine)
        except StopIteration as stop:
            state: State = stop.value
    except Exception as exc:
        state = _internal_crash(ctx, prepared.task_run, exc)
    finally:
        task_run_context.reset(token)
    return _conclude(ctx, task, prepared, state)


async def _call_async(
    fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], timeout: float | None, name: str
) -> Any:
    import asyncio

    if not asyncio.iscoroutinefunction(fn):
        return fn(*args, **kwargs)
    if timeout is None:
        return await fn(*args, **kwargs)
    try:
        async with asyncio.timeout(timeout):
            return await fn(*args, **kwargs)
    except TimeoutError:
        raise TaskTimeout(
            f"task run {name!r} exceeded its timeout of {timeout:g} seconds"
        ) from None


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


def submit_task(ctx: FlowRunContext, task: Any, prepared: Prepared) -> LegatoFuture[Any]:
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
