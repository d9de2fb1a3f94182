"""One flow run as a series of state proposals: create (or resume), run, retry, finish.

Like the task engine, the rules are written once in a generator
(:func:`flow_machine`) that yields ``(CALL, context)`` when the flow body must run
and ``(SLEEP, seconds)`` before a retry; :func:`run_flow_sync` and
:func:`run_flow_async` drive it. The final state of a flow run is proposed only
after the batched writer has made all its task states durable.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from legato.engine.context import FlowRunContext, PreviousTaskRun, flow_run_context
from legato.engine.names import generate_run_name
from legato.engine.results import task_result_key
from legato.engine.retries import decide_retry
from legato.engine.task_engine import (
    CALL,
    SLEEP,
    Prepared,
    finish,
    prepare_task_run,
)
from legato.engine.timeouts import call_with_timeout
from legato.errors import (
    Abort,
    FlowTimeout,
    LegatoError,
    ObjectNotFound,
    ParameterValidationError,
    RunTakenBack,
    SerializationError,
    TaskTimeout,
    Terminated,
    TransitionRefused,
    describe_error,
)
from legato.ids import new_id
from legato.orchestrator.protocol import Orchestrator
from legato.processes import this_process
from legato.states import FAILURE_TYPES, State, StateType, Transition
from legato.text import check_parameters

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger("legato.flow_runs")
Action = tuple[Any, ...]


class FlowCall:
    """Everything about one call of a flow that the machine needs."""

    def __init__(
        self,
        flow: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        orchestrator: Orchestrator | None = None,
        resume_flow_run_id: str | None = None,
        first_attempt: bool = False,
    ):
        self.flow = flow
        self.args = args
        self.kwargs = kwargs
        self.parent: FlowRunContext | None = flow_run_context.get()
        if self.parent is not None:
            self.orchestrator: Orchestrator = self.parent.orchestrator
        elif orchestrator is not None:
            self.orchestrator = orchestrator
        else:
            from legato.orchestrator import get_orchestrator

            self.orchestrator = get_orchestrator()
        self.resume_flow_run_id = resume_flow_run_id
        # Set when the resumed run was created elsewhere and has not run yet (a
        # deployment's run, started by a worker): it is started, not rerun.
        self.first_attempt = first_attempt
        self.flow_run_id: str | None = None  # known once the machine created or found it
        # A subflow's task run in its parent, and the stand-in task it runs as: ended
        # from here when the machine cannot end them itself (see _crash_on_escape).
        self.parent_task_run: Any = None
        self.subflow_task: SubflowTask | None = None


class SubflowTask:
    """The task-shaped stand-in that records a subflow call in its parent flow run."""

    def __init__(self, flow: Any):
        self.flow = flow
        self.name = flow.name
        self.task_key = f"subflow:{flow.name}"  # flow names are unique per store
        self.tags = list(flow.tags)
        self.parameter_names: tuple[str, ...] = ()
        self.persist_result = flow.persist_result

    def result_store_for(self, ctx: FlowRunContext) -> Any:
        return self.flow.result_store_for(ctx)


def flow_machine(call: FlowCall) -> Generator[Action, Any, State]:
    flow = call.flow
    orch = call.orchestrator
    parent = call.parent
    # Before anything is stored: parameters the store cannot hold are the caller's error.
    raw_parameters = flow.describe_raw_parameters(call.args, call.kwargs)
    check_parameters(flow.name, flow.jsonable(raw_parameters))

    # A subflow is also a task run of its parent flow run.
    parent_prepared: Prepared | None = None
    subflow_task = SubflowTask(flow) if parent is not None else None
    if parent is not None:
        parent_prepared = prepare_task_run(parent, subflow_task, (), {}, name=flow.name)
        if parent_prepared.reused is not None:
            return parent_prepared.reused
        call.parent_task_run, call.subflow_task = parent_prepared.task_run, subflow_task
        if parent_prepared.task_run.subflow_run_id and call.resume_flow_run_id is None:
            call.resume_flow_run_id = parent_prepared.task_run.subflow_run_id

    try:
        parameters = flow.validate(call.args, call.kwargs)
        problem = None
    except ParameterValidationError as invalid:
        parameters = raw_parameters
        problem = invalid

    previous: dict[tuple[str, int], PreviousTaskRun] = {}
    scheduled_time: datetime | None = None
    # The process running a run no worker holds is recorded with it, with the first
    # state this process proposes, so that a command can tell later that it died.
    owner: dict[str, Any] = {}
    if call.resume_flow_run_id is not None:
        flow_run_id = call.resume_flow_run_id
        call.flow_run_id = flow_run_id
        row = orch.read_flow_run_row(flow_run_id)
        run_count = row["run_count"]
        if row.get("expected_start_time") is not None:
            scheduled_time = datetime.fromtimestamp(row["expected_start_time"], UTC)
        name = row["name"]
        owner = _local_owner(call.first_attempt, row.get("worker_name"))
        if not (call.first_attempt and row["state_type"] == StateType.PENDING.value):
            message = None if call.first_attempt else f"resumed: attempt {run_count + 1}"
            verdict = orch.set_flow_run_state(
                flow_run_id,
                State(StateType.PENDING, "Pending", message),
                rerun=not call.first_attempt,
                fields=owner or None,
            )
            owner = {}
            if verdict.taken_back:
                raise RunTakenBack(verdict.reason)
            if not verdict.allowed:
                raise TransitionRefused(f"cannot resume flow run {flow_run_id}: {verdict.reason}")
        for (key, dyn), prev in orch.read_task_runs_by_key(flow_run_id).items():
            previous[(key, dyn)] = PreviousTaskRun(
                id=prev["id"],
                state_type=prev["state_type"],
                state_name=prev["state_name"],
                run_count=prev["run_count"],
                result_key=prev["result_key"],
                created=prev["created"],
                start_time=prev["start_time"],
                end_time=prev["end_time"],
                subflow_run_id=prev["subflow_run_id"],
            )
    else:
        flow_run_id = new_id()
        call.flow_run_id = flow_run_id
        run_count = 0
        name = flow.run_name(parameters) or generate_run_name()
        orch.create_flow_run(
            {
                "id": flow_run_id,
                "flow_name": flow.name,
                "name": name,
                "parameters": flow.jsonable(parameters),
                "tags": list(flow.tags),
                "entrypoint": flow.entrypoint,
                "parent_flow_run_id": parent.flow_run_id if parent else None,
                "parent_task_run_id": parent_prepared.task_run.id if parent_prepared else None,
                "run_count": 0,
                "created": time.time(),
                "start_time": None,
                "end_time": None,
                **this_process().fields(),
            },
            State(StateType.PENDING, "Pending"),
        )

    if parent_prepared is not None:
        parent_task_run = parent_prepared.task_run
        parent_task_run.subflow_run_id = flow_run_id
        parent_task_run.move_to(State(StateType.RUNNING, "Running", run_id=parent_task_run.id))
        orch.enqueue(parent_task_run.state_op())

    def propose(state: State, **fields: Any) -> None:
        verdict = orch.set_flow_run_state(flow_run_id, state, fields=fields or None)
        if verdict.taken_back:  # another attempt may run it now: run nothing more here
            raise RunTakenBack(verdict.reason)
        if not verdict.allowed:
            raise TransitionRefused(f"flow run {flow_run_id}: {verdict.reason}")

    final: State
    if problem is not None:
        final = State(StateType.FAILED, "Failed", str(problem), exception=problem)
        values: dict[str, Any] = {}
    else:
        attempt = run_count
        while True:
            attempt += 1
            now = time.time()
            fields: dict[str, Any] = {"run_count": attempt, "end_time": None, **owner}
            owner = {}
            if attempt == 1:
                fields["start_time"] = now
            propose(
                State(StateType.RUNNING, "Running" if attempt == 1 else "Retrying", timestamp=now),
                **fields,
            )
            ctx = FlowRunContext(
                flow=flow,
                flow_run_id=flow_run_id,
                flow_run_name=name,
                orchestrator=orch,
                task_runner=flow.task_runner.duplicate(),
                result_store=flow.result_store_for(parent),
                log_prints=flow.log_prints,
                attempt=attempt,
                parameters=parameters,
                previous=previous,
                scheduled_time=scheduled_time,
            )
            flow.logger_for(ctx).info(
                "Beginning flow run %r for flow %r%s",
                name,
                flow.name,
                f" (attempt {attempt})" if attempt > 1 else "",
            )
            ok, value = yield (CALL, ctx, parameters)
            values = ctx.values
            if ok:
                unobserved = [
                    f for f in ctx.futures if not f.observed and f.state.type in FAILURE_TYPES
                ]
                if unobserved:
                    names = ", ".join(f._task_run.name for f in unobserved[:5])
                    more = f" and {len(unobserved) - 5} more" if len(unobserved) > 5 else ""
                    final = State(
                        StateType.FAILED,
                        "Failed",
                        f"{len(unobserved)} submitted task run(s) failed and their results were "
                        f"never used: {names}{more}",
                    )
                else:
                    final = State(StateType.COMPLETED, "Completed", data=value)
                    break
            else:
                error: BaseException = value
                if not isinstance(error, Exception):
                    final = _crashed(error)
                    _crash_active(ctx, final)
                    break
                final_name = "TimedOut" if isinstance(error, TaskTimeout) else "Failed"
                final = State(StateType.FAILED, final_name, describe_error(error), exception=error)
                if isinstance(error, FlowTimeout):
                    _end_active(
                        ctx,
                        State(
                            StateType.FAILED,
                            "TimedOut",
                            "the flow run timed out before this task run finished",
                        ),
                    )
            decision = decide_retry(
                run_count=attempt - run_count,
                retries=flow.retries,
                delay=flow.retry_delay_seconds,
                jitter_factor=flow.retry_jitter_factor,
            )
            if not decision.retry:
                break
            now = time.time()
            propose(
                State(
                    StateType.SCHEDULED,
                    "AwaitingRetry",
                    f"{final.message}; {decision.reason} in {decision.delay:.3g}s",
                    timestamp=now,
                    scheduled_time=now + decision.delay,
                )
            )
            flow.logger_for(ctx).warning(
                "Flow run %r failed (%s); %s in %.3gs",
                name,
                final.message,
                decision.reason,
                decision.delay,
            )
            previous = _previous_from_attempt(ctx)
            if decision.delay > 0:
                yield (SLEEP, decision.delay)

    if final.type in FAILURE_TYPES and values:
        _persist_for_rerun(flow, orch, flow_run_id, values, parent)
    orch.flush()
    end = time.time()
    if isinstance(final.exception, Abort) and _cancelling(orch, flow_run_id):
        # Stopped by its worker because a cancel was asked for: that is how it ends.
        final = State(
            StateType.CANCELLED,
            "Cancelled",
            f"cancelled: {final.message}",
            exception=final.exception,
        )
    final = State(
        final.type,
        final.name,
        final.message,
        timestamp=end,
        data=final.data,
        exception=final.exception,
        run_id=flow_run_id,
    )
    # Logged (and flushed) before the final state: a final state ends a worker's
    # attempt, and with it the credential that the process writes its lines with.
    _log_final(flow, flow_run_id, name, final, orch)
    verdict = orch.set_flow_run_state(flow_run_id, final, fields={"end_time": end})
    if verdict.taken_back:
        raise RunTakenBack(verdict.reason)
    if not verdict.allowed:
        logger.warning("final state of flow run %s refused: %s", flow_run_id, verdict.reason)

    if parent is not None and parent_prepared is not None and subflow_task is not None:
        parent_task_run = parent_prepared.task_run
        mirrored = State(
            final.type,
            final.name,
            final.message or f"subflow run {name!r} ended {final.name}",
            data=final.data,
            exception=final.exception,
            run_id=parent_task_run.id,
        )
        parent_task_run.move_to(mirrored)
        orch.enqueue(parent_task_run.state_op())
        finish(parent, subflow_task, parent_task_run, mirrored)
    return final


def _local_owner(first_attempt: bool, worker_name: str | None) -> dict[str, Any]:
    """The columns to set when this process starts a stored run: none for a worker's run
    (its worker answers for it); this process for any other, and a rerun by hand of a
    worker's run is no longer held by that worker."""
    if first_attempt and worker_name is not None:
        return {}
    owner = this_process().fields()
    if worker_name is not None:
        owner.update(worker_name=None, heartbeat=None)
    return owner


def _cancelling(orch: Orchestrator, flow_run_id: str) -> bool:
    with contextlib.suppress(LegatoError):
        return bool(orch.read_flow_run_row(flow_run_id)["state_type"] == StateType.CANCELLING)
    return False


def _crashed(exc: BaseException) -> State:
    if isinstance(exc, KeyboardInterrupt):
        reason = "interrupted (KeyboardInterrupt)"
    elif isinstance(exc, SystemExit):
        reason = f"the process exited (SystemExit {exc.code})"
    else:
        reason = describe_error(exc)
    return State(StateType.CRASHED, "Crashed", reason, exception=exc)


def _crash_active(ctx: FlowRunContext, final: State) -> None:
    """Task runs still going when the flow run died are Crashed too, never Running forever."""
    _end_active(ctx, State(StateType.CRASHED, "Crashed", f"the flow run crashed: {final.message}"))


def _end_active(ctx: FlowRunContext, ending: State) -> None:
    """Give every unfinished task run of the flow run the final state ``ending``."""
    for task_run in list(ctx.active):
        if not task_run.state.is_final():
            task_run.move_to(State(ending.type, ending.name, ending.message, run_id=task_run.id))
            ctx.orchestrator.enqueue(task_run.state_op())
    ctx.active.clear()


def _previous_from_attempt(ctx: FlowRunContext) -> dict[tuple[str, int], PreviousTaskRun]:
    """What a retry in this process may reuse: every task run of the attempt, with values."""
    previous = dict(ctx.previous)
    for key, task_run in ctx.runs_by_key.items():
        held = ctx.values.get(task_run.id)
        previous[key] = PreviousTaskRun(
            id=task_run.id,
            state_type=task_run.state.type.value,
            state_name=task_run.state.name,
            run_count=task_run.run_count,
            result_key=task_run.result_key,
            created=task_run.created,
            start_time=task_run.start_time,
            end_time=task_run.end_time,
            subflow_run_id=task_run.subflow_run_id,
            has_value=held is not None,
            value=held[1] if held is not None else None,
        )
    return previous


def _persist_for_rerun(
    flow: Any,
    orch: Orchestrator,
    flow_run_id: str,
    values: dict[str, Any],
    parent: FlowRunContext | None,
) -> None:
    """Write the in-memory values of completed task runs so `runs retry` can skip them."""
    store = flow.result_store_for(parent)
    for task_run, value in values.values():
        if task_run.result_key is not None or task_run.state.type is not StateType.COMPLETED:
            continue
        key = task_result_key(flow_run_id, task_run.id)
        try:
            store.write(key, value)
        except (SerializationError, OSError) as exc:
            logger.warning(
                "result of task run %r not kept for a retry (%s); it will run again",
                task_run.name,
                exc,
            )
            continue
        task_run.result_key = key
        orch.enqueue(task_run.update_op())


def _log_final(flow: Any, flow_run_id: str, name: str, final: State, orch: Orchestrator) -> None:
    level = logging.INFO if final.type is StateType.COMPLETED else logging.ERROR
    message = f": {final.message}" if final.message else ""
    flow.logger_for_ids(orch, flow_run_id, name).log(
        level, "Finished in state %s%s", final.name, message
    )
    with contextlib.suppress(LegatoError):
        orch.flush()


# -- drivers ---------------------------------------------------------------------------


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


def _call_body_sync(flow: Any, ctx: FlowRunContext, parameters: dict[str, Any]) -> Any:
    from legato.engine.runner import call_function

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
            with contextlib.suppress(Exception):
                call.orchestrator.set_flow_run_state(
                    call.flow_run_id,
                    State(StateType.CRASHED, "Crashed", f"{reason}: {describe_error(exc)}", now),
                    fields={"end_time": now},
                )
        raise


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
            verdict = orch.set_flow_run_state(
                call.flow_run_id, ended, fields={"end_time": ended.timestamp}
            )
        except ObjectNotFound:  # the stack ran out while it was being stored
            verdict = Transition(True)
        if not verdict.allowed:  # it had ended: the parent's task run mirrors that
            row = orch.read_flow_run_row(call.flow_run_id)
            ended = State(
                StateType(row["state_type"]),
                row["state_name"],
                row["state_message"],
                exception=exc,
            )
    task_run = call.parent_task_run
    if task_run is None or task_run.state.is_final() or call.parent is None:
        return
    mirrored = State(ended.type, ended.name, ended.message, exception=exc, run_id=task_run.id)
    task_run.move_to(mirrored)
    call.orchestrator.enqueue(task_run.state_op())
    finish(call.parent, call.subflow_task, task_run, mirrored)


def run_flow_sync(call: FlowCall) -> State:
    top_level = call.parent is None
    machine = flow_machine(call)
    with _terminate_on_sigterm(top_level), _crash_on_escape(call):
        try:
            action = next(machine)
            while True:
                if action[0] is CALL:
                    ctx: FlowRunContext = action[1]
                    try:
                        value = _call_body_sync(call.flow, ctx, action[2])
                        sent: tuple[bool, Any] = (True, value)
                    except BaseException as exc:
                        sent = (False, exc)
                    finally:
                        _shutdown_runner(ctx, sent)
                    action = machine.send(sent)
                else:
                    time.sleep(action[1])
                    action = next(machine)
        except StopIteration as stop:
            state: State = stop.value
    _raise_if_crashed(state, top_level)
    return state


async def run_flow_async(call: FlowCall) -> State:
    with _crash_on_escape(call):
        state = await _drive_async(call)
    _raise_if_crashed(state, call.parent is None)
    return state


async def _call_body_async(call: FlowCall, ctx: FlowRunContext, parameters: dict[str, Any]) -> Any:
    import asyncio

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
    import asyncio

    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        received.append(signal.SIGTERM)
        body.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def _drive_async(call: FlowCall) -> State:
    import asyncio

    machine = flow_machine(call)
    try:
        action = next(machine)
        while True:
            if action[0] is CALL:
                ctx: FlowRunContext = action[1]
                try:
                    value = await _call_body_async(call, ctx, action[2])
                    sent: tuple[bool, Any] = (True, value)
                except BaseException as exc:
                    sent = (False, exc)
                finally:
                    _shutdown_runner(ctx, sent)
                action = machine.send(sent)
            else:
                await asyncio.sleep(action[1])
                action = next(machine)
    except StopIteration as stop:
        state: State = stop.value
    return state


def _shutdown_runner(ctx: FlowRunContext, sent: tuple[bool, Any]) -> None:
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
