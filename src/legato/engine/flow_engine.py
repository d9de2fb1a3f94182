"""Running one flow run: the drivers of the flow machine, and what ends a run it cannot.

The rules are written once, in :func:`legato.engine.flow_machine.flow_machine`, a
generator that does no I/O. :func:`run_flow_sync` performs what it yields in this
thread; :func:`run_flow_async` on the running event loop, with every state proposal,
read and flush in a thread, so that an async flow's tasks go on meanwhile. Both turn
SIGTERM into a Crashed run (a top-level flow in the main thread only), and record a
run Crashed when legato itself fails under it (:func:`_crash_on_escape`).

A top-level run ended by SIGTERM raises :class:`legato.errors.Terminated` once it is
recorded: the process's entry point decides how the process ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from legato.engine.actions import Action, CallFlowBody, CallHooks, Outcome, Sleep
from legato.engine.context import FlowRunContext, flow_run_context
from legato.engine.flow_machine import FlowCall, flow_machine
from legato.engine.hooks import call_hooks, call_hooks_async, flow_hooks_action
from legato.engine.performing import perform_async, performer, propose_flow_run_state
from legato.engine.task_engine import finish
from legato.engine.timeouts import call_with_timeout
from legato.errors import (
    Abort,
    FlowTimeout,
    ObjectNotFound,
    RunTakenBack,
    TaskTimeout,
    Terminated,
    describe_error,
)
from legato.states import State, StateType, Transition

__all__ = ["FlowCall", "run_flow_async", "run_flow_sync"]

logger = logging.getLogger("legato.flow_runs")


def run_flow_sync(call: FlowCall) -> State:
    """Drive the flow run of ``call`` to its final state in this thread.

    The loop is written out here rather than in helpers: a flow that calls itself as a
    subflow nests this frame once per level, and each frame less is stack left.
    """
    top_level = call.parent is None
    machine = flow_machine(call)
    orch = call.orchestrator
    outcome: Any
    with _terminate_on_sigterm(top_level), _crash_on_escape(call):
        try:
            action: Action = next(machine)
            while True:
                try:
                    if type(action) is CallFlowBody:
                        ctx = action.context
                        try:
                            outcome = (True, _call_body_sync(call, ctx, action.parameters))
                        except BaseException as exc:
                            outcome = (False, exc)
                        finally:
                            _shutdown_runner(ctx, outcome)
                    elif type(action) is Sleep:
                        time.sleep(action.seconds)
                        outcome = None
                    elif type(action) is CallHooks:
                        call_hooks(action)
                        outcome = None
                    else:
                        outcome = performer(action)(action, orch)
                except BaseException as exc:
                    action = machine.throw(exc)
                    continue
                action = machine.send(outcome)
        except StopIteration as stop:
            state: State = stop.value
    _raise_if_crashed(state, top_level)
    return state


def _call_body_sync(call: FlowCall, ctx: FlowRunContext, parameters: dict[str, Any]) -> Any:
    from legato.engine.runner import call_function

    flow = call.flow
    args, kwargs = flow.split_parameters(parameters)
    token = flow_run_context.set(ctx)
    try:
        if flow.timeout_seconds is not None:
            return call_with_timeout(
                lambda: call_function(flow.fn, args, kwargs),
                flow.timeout_seconds,
                f"flow run {ctx.flow_run_name!r}",
                FlowTimeout,
            )
        return call_function(flow.fn, args, kwargs)
    finally:
        flow_run_context.reset(token)


@contextlib.contextmanager
def _terminate_on_sigterm(enabled: bool) -> Iterator[None]:
    """While a top-level flow runs in the main thread, SIGTERM ends it Crashed, not silently."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum: int, _frame: Any) -> None:
        raise Abort(f"the process received {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


async def run_flow_async(call: FlowCall) -> State:
    """Drive the flow run of ``call`` to its final state on the running event loop."""
    machine = flow_machine(call)
    orch = call.orchestrator
    outcome: Any
    with _crash_on_escape(call):
        try:
            action: Action = next(machine)
            while True:
                try:
                    if type(action) is CallFlowBody:
                        outcome = await _run_body_async(call, action)
                    elif type(action) is Sleep:
                        await asyncio.sleep(action.seconds)
                        outcome = None
                    elif type(action) is CallHooks:
                        await call_hooks_async(action)
                        outcome = None
                    else:
                        outcome = await perform_async(action, orch)
                except BaseException as exc:
                    action = machine.throw(exc)
                    continue
                action = machine.send(outcome)
        except StopIteration as stop:
            state: State = stop.value
    _raise_if_crashed(state, call.parent is None)
    return state


async def _run_body_async(call: FlowCall, action: CallFlowBody) -> Outcome:
    """Run the body on the loop, then let the attempt's task runs end: in a thread when
    some were submitted to the task runner (waiting for them blocks)."""
    ctx = action.context
    outcome: Outcome
    try:
        outcome = (True, await _call_body_async(call, ctx, action.parameters))
    except BaseException as exc:
        outcome = (False, exc)
    if ctx.futures:
        await asyncio.to_thread(_shutdown_runner, ctx, outcome)
    else:
        _shutdown_runner(ctx, outcome)
    return outcome


async def _call_body_async(call: FlowCall, ctx: FlowRunContext, parameters: dict[str, Any]) -> Any:
    flow = call.flow
    args, kwargs = flow.split_parameters(parameters)
    timeout = flow.timeout_seconds
    token = flow_run_context.set(ctx)
    try:
        body = asyncio.ensure_future(flow.fn(*args, **kwargs))
        received: list[int] = []
        with _cancel_on_sigterm(body, received, enabled=call.parent is None):
            try:
                if timeout is None:
                    return await body
                async with asyncio.timeout(timeout):
                    return await body
            except asyncio.CancelledError:
                if received:
                    raise Abort("the process received SIGTERM") from None
                raise
            except TimeoutError as exc:
                if timeout is None or isinstance(exc, TaskTimeout):
                    raise
                raise FlowTimeout(
                    f"flow run {ctx.flow_run_name!r} exceeded its timeout of {timeout:g} seconds"
                ) from None
    finally:
        flow_run_context.reset(token)


@contextlib.contextmanager
def _cancel_on_sigterm(
    body: asyncio.Future[Any], received: list[int], *, enabled: bool
) -> Iterator[None]:
    """The async twin of ``_terminate_on_sigterm``: SIGTERM cancels the flow body."""
    if (
        not enabled
        or threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None)
    ):
        yield
        return
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        received.append(signal.SIGTERM)
        body.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def _shutdown_runner(ctx: FlowRunContext, sent: Outcome) -> None:
    """Wait for submitted task runs to finish, unless the process is going away or the
    flow run is out of time."""
    crashing = not sent[0] and not isinstance(sent[1], Exception)
    if crashing or (not sent[0] and isinstance(sent[1], FlowTimeout)):
        ctx.task_runner.shutdown(wait=False)
        return
    # Every submitted task run finishes first, including those whose upstreams were
    # still running when the body returned (they are submitted only then).
    for future in ctx.futures:
        future.wait()
    ctx.task_runner.shutdown(wait=True)


def _raise_if_crashed(state: State, top_level: bool) -> None:
    exc = state.exception
    ended = state.type in (StateType.CRASHED, StateType.CANCELLED)
    if ended and exc is not None and not isinstance(exc, Exception):
        if isinstance(exc, Abort) and top_level:
            # SIGTERM: the runs are recorded Crashed and durable; how the process
            # ends is its entry point's to say.
            raise Terminated(str(exc)) from exc
        raise exc


@contextlib.contextmanager
def _crash_on_escape(call: FlowCall) -> Iterator[None]:
    """An error in legato itself (or a signal outside the body) must not leave the flow
    run Running forever: record it Crashed, then let the error go on.

    A RecursionError (a flow calling itself as a subflow without end) escapes from
    wherever the stack ran out, often between creating the run and starting it, and
    the same stack has no room left to record anything: the run, and its task run in
    the parent, are ended Failed from a new thread, whose stack is empty.
    """
    try:
        yield
    except RecursionError as out_of_stack:
        _on_fresh_stack(functools.partial(_end_out_of_stack, call, out_of_stack))
        raise
    except BaseException as exc:
        if call.flow_run_id is not None and not isinstance(exc, RunTakenBack):
            now = time.time()
            reason = "internal error in legato" if isinstance(exc, Exception) else "crashed"
            crashed = State(
                StateType.CRASHED,
                "Crashed",
                f"{reason}: {describe_error(exc)}",
                now,
                run_id=call.flow_run_id,
            )
            with contextlib.suppress(Exception):
                verdict = propose_flow_run_state(
                    call.orchestrator, call.flow_run_id, crashed, fields={"end_time": now}
                )
                if verdict.allowed:
                    _crashed_hooks(call, crashed)
        raise


def _crashed_hooks(call: FlowCall, crashed: State) -> None:
    """The ``on_crashed`` hooks of a run ended Crashed under its machine (called here,
    from synchronous code: an async one runs on a loop of its own)."""
    hooks = call.flow.state_hooks
    info = call.run_info
    if hooks is None or not hooks.on_crashed or info is None:
        return
    logger = functools.partial(
        call.flow.logger_for_ids, call.orchestrator, info.flow_run_id, info.flow_run_name
    )
    call_hooks(flow_hooks_action(hooks.on_crashed, "on_crashed", call.flow, info, crashed, logger))
    with contextlib.suppress(Exception):
        call.orchestrator.flush()


def _on_fresh_stack(work: Callable[[], None]) -> None:
    """Run ``work`` in a new thread and wait for it (its errors are logged, not raised).

    The recursion limit is raised a little meanwhile, for this thread to start that one.
    """
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 200)
    try:
        worker = threading.Thread(target=_logged, args=(work,), name="legato-flow-end")
        worker.start()
        worker.join()
    finally:
        sys.setrecursionlimit(limit)


def _logged(work: Callable[[], None]) -> None:
    try:
        work()
    except Exception:
        logger.exception("could not record the end of a flow run that ran out of stack")


def _end_out_of_stack(call: FlowCall, exc: RecursionError) -> None:
    """End the run of ``call`` Failed (unless it ended already), and its task run in the
    parent flow run the way the run ended."""
    message = (
        f"{describe_error(exc)}: the flow run ran out of stack (does a flow call itself "
        "as a subflow without end?)"
    )
    ended = State(StateType.FAILED, "Failed", message, exception=exc)
    if call.flow_run_id is not None:
        orch = call.orchestrator
        try:
            verdict = propose_flow_run_state(
                orch, call.flow_run_id, ended, fields={"end_time": ended.timestamp}
            )
        except ObjectNotFound:  # the stack ran out while it was being stored
            verdict = Transition(True)
        if not verdict.allowed:  # it had ended: the parent's task run mirrors that
            stored = orch.read_flow_run_row(call.flow_run_id)
            ended = State(
                StateType(stored.state_type),
                stored.state_name,
                stored.state_message,
                exception=exc,
            )
    task_run = call.parent_task_run
    if task_run is None or task_run.state.is_final() or call.parent is None:
        return
    assert call.subflow_task is not None
    mirrored = State(ended.type, ended.name, ended.message, exception=exc, run_id=task_run.id)
    task_run.move_to(mirrored)
    call.orchestrator.enqueue(task_run.state_op())
    finish(call.parent, call.subflow_task, task_run, mirrored)
