"""State hooks: the user's functions called when a flow run or task run enters a state.

As in Prefect, ``@flow(on_failure=[fn])`` calls ``fn(flow, flow_run, state)`` and
``@task(on_completion=[fn])`` calls ``fn(task, task_run, state)``, in the run's own
process, once the state is recorded: a final state (Completed, Failed, Crashed,
Cancelled) after it is stored, Running before the body of each attempt. ``flow_run``
and ``task_run`` are the frozen records ``get_run_context()`` gives
(:class:`~legato.engine.context.FlowRunInfo`, :class:`~legato.engine.context.TaskRunInfo`).

A hook is the user's code running after the fact: whatever it raises is logged on
the run's logger (ERROR, naming the hook, with its traceback) and goes no further.
It changes neither the run's state nor what the flow call returns or raises, and the
next hook still runs. Only an interrupt (a BaseException: Ctrl-C, SystemExit) goes on.

The machines ask for hooks with a :class:`~legato.engine.actions.CallHooks` action;
the drivers call them (:func:`call_hooks`, :func:`call_hooks_async`: an async hook is
awaited on an async run's loop). A task with hooks runs its machine inside
:func:`with_task_hooks`; one without costs the engine one attribute check.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from legato.engine.actions import Action, CallHooks, CallTask
from legato.engine.context import TaskRunContext, TaskRunInfo, flow_run_info
from legato.errors import describe_error
from legato.ops import RecordState
from legato.states import State, StateType
from legato.tracebacks import user_exc_info

if TYPE_CHECKING:
    from legato.engine.task_machine import Machine

StateHook = Callable[..., Any]
"""``hook(flow_or_task, run_info, state)``; it may return an awaitable, which is awaited."""

KIND_OF_TYPE = {
    StateType.COMPLETED: "on_completion",
    StateType.FAILED: "on_failure",
    StateType.CRASHED: "on_crashed",
    StateType.CANCELLED: "on_cancellation",
    StateType.RUNNING: "on_running",
}
"""Which hooks a state of each type calls (Cached is Completed, TimedOut and
UpstreamFailed are Failed, Retrying is Running)."""


@dataclass(frozen=True, slots=True)
class StateHooks:
    """The hooks of one flow or task definition, by the kind of state that calls them.

    A definition without hooks has none of these (None): the engine checks that once.
    """

    on_completion: tuple[StateHook, ...] = ()
    on_failure: tuple[StateHook, ...] = ()
    on_crashed: tuple[StateHook, ...] = ()
    on_cancellation: tuple[StateHook, ...] = ()
    on_running: tuple[StateHook, ...] = ()

    @classmethod
    def of(cls, options: Any) -> StateHooks | None:
        """The hooks a definition's options name (None when they name none)."""
        found = {
            kind: getattr(options, kind, ())
            for kind in KIND_OF_TYPE.values()
            if getattr(options, kind, ())
        }
        return cls(**found) if found else None

    def for_state(self, state: State) -> tuple[str, tuple[StateHook, ...]]:
        """The kind of hooks ``state`` calls and those hooks (none for a Pending, ...)."""
        kind = KIND_OF_TYPE.get(state.type)
        if kind is None:
            return "", ()
        hooks: tuple[StateHook, ...] = getattr(self, kind)
        return kind, hooks


def hook_name(hook: StateHook) -> str:
    """How a log line names a hook: its function's name (a partial's function's)."""
    while isinstance(hook, functools.partial):
        hook = hook.func
    name = getattr(hook, "__name__", None)
    return str(name) if name else type(hook).__name__


# -- calling them (each driver its own way) -------------------------------------------------


def call_hooks(action: CallHooks) -> None:
    """Call each hook in order from synchronous code; an async one runs to its end here."""
    for hook in action.hooks:
        try:
            result = hook(action.definition, action.run, action.state)
            if inspect.isawaitable(result):
                _run_to_end(result)
        except Exception as exc:
            _log_failure(action, hook, exc)


async def call_hooks_async(action: CallHooks) -> None:
    """Call each hook in order on the running event loop, awaiting the async ones."""
    for hook in action.hooks:
        try:
            result = hook(action.definition, action.run, action.state)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            _log_failure(action, hook, exc)


def _run_to_end(awaitable: Awaitable[Any]) -> None:
    """Run an async hook's awaitable from synchronous code: on a loop of its own, in
    another thread when this one runs a loop already (a sync flow called from async
    code), where it may not start a second one."""

    async def wait() -> None:
        await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(wait())
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(wait())
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="legato-state-hook")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def _log_failure(action: CallHooks, hook: StateHook, exc: Exception) -> None:
    action.logger().error(
        "State hook %r (%s) failed on %s %r: %s; the run stays %s",
        hook_name(hook),
        action.kind,
        action.what,
        action.run_name,
        describe_error(exc),
        action.state.name,
        exc_info=user_exc_info(exc),
    )


# -- the task machine with hooks ---------------------------------------------------------------


def with_task_hooks(machine: Machine, tctx: TaskRunContext, hooks: StateHooks) -> Machine:
    """``machine`` (a task machine) with its task's hooks called: ``on_running`` before
    each call of the body, while the run is Running; the final state's hooks once the
    machine recorded it (not for a state it did not enter here, such as a value reused
    from an earlier attempt or an end the flow run gave it).

    An interrupt raised in an ``on_running`` hook is what the body's call gives: the
    body is not run and the machine judges the interrupt."""
    task_run = tctx.task_run
    recorded: State | None = None
    outcome: Any
    try:
        action: Action = next(machine)
        while True:
            if type(action) is RecordState:
                if action.task_run is task_run:
                    recorded = action.state
            elif type(action) is CallTask and hooks.on_running and task_run.state.is_running():
                try:
                    yield _task_hooks(tctx, "on_running", hooks.on_running, task_run.state)
                except BaseException as exc:
                    action = machine.send((False, exc))
                    continue
            try:
                outcome = yield action
            except BaseException as exc:
                action = machine.throw(exc)
                continue
            action = machine.send(outcome)
    except StopIteration as stop:
        final: State = stop.value
    kind, called = hooks.for_state(final)
    if called and final is recorded:
        yield _task_hooks(tctx, kind, called, final)
    return final


def _task_hooks(
    tctx: TaskRunContext, kind: str, hooks: tuple[StateHook, ...], state: State
) -> CallHooks:
    task_run = tctx.task_run
    return CallHooks(
        hooks=hooks,
        kind=kind,
        definition=tctx.task,
        run=task_hook_info(tctx),
        state=state,
        logger=functools.partial(tctx.task.logger_for, tctx.flow_run, task_run),
        what="task run",
        run_name=task_run.name,
    )


def task_hook_info(tctx: TaskRunContext) -> TaskRunInfo:
    """The task run as its hooks are told it: its run-context record, with the call's
    arguments as given when they do not fit the task's signature (the body's call
    failed for that, and its ``on_failure`` hooks still run)."""
    ctx = tctx.flow_run
    task_run = tctx.task_run
    try:
        parameters = tctx.parameters
    except TypeError:
        parameters = {**{f"args[{i}]": v for i, v in enumerate(tctx.args)}, **tctx.kwargs}
    return TaskRunInfo(
        task_run_id=task_run.id,
        task_run_name=task_run.name,
        task_name=tctx.task.name,
        parameters=MappingProxyType(parameters),
        run_count=task_run.run_count,
        tags=tuple(task_run.tags),
        flow_run=None if ctx.flow_run_id is None else flow_run_info(ctx),
    )


def flow_hooks_action(
    hooks: tuple[StateHook, ...],
    kind: str,
    flow: Any,
    run: Any,
    state: State,
    logger: Callable[[], logging.LoggerAdapter[Any]],
) -> CallHooks:
    """The action that calls a flow run's ``kind`` hooks for ``state``."""
    return CallHooks(
        hooks=hooks,
        kind=kind,
        definition=flow,
        run=run,
        state=state,
        logger=logger,
        what="flow run",
        run_name=run.flow_run_name,
    )
