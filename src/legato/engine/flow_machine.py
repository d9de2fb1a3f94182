"""One flow run as a generator that does no I/O: create (or resume), run, retry, finish.

:func:`flow_machine` yields :mod:`legato.engine.actions` - create the run, propose
its states, read what an earlier attempt left, run the body, flush the writer - and
is sent what each gave; :mod:`legato.engine.flow_engine` drives it, in a thread or
on an event loop. Its phases, in order:

1. a subflow enters its parent (:func:`_enter_parent`): it is a task run there too,
   and a completed one whose value can be read is not run again;
2. set-up: a new run is created (:func:`_create`), a stored one resumed
   (:func:`_resume`: Pending again, and the task runs its earlier attempts left);
3. attempts (:func:`_attempts`): Running (or Retrying), the body, its outcome judged
   (:func:`_judge_attempt`: a returned state is how it ends, see
   :mod:`legato.engine.returned`), AwaitingRetry and a sleep while retries are left;
4. finish (:func:`_finish`): values kept for a rerun, the writer flushed - a flow
   run's final state is proposed only once its task states are durable - the end
   logged, the final state proposed, then its state hooks called
   (:mod:`legato.engine.hooks`; ``on_running`` ones are called before each body);
   a subflow's task run in its parent mirrors it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from legato.engine.actions import (
    Action,
    CallFlowBody,
    CreateFlowRun,
    Flush,
    Log,
    Outcome,
    ProposeFlowRunState,
    ReadFlowRun,
    ReadPrevious,
    Sleep,
    WriteResult,
)
from legato.engine.cancels import cancel_reason, stopped
from legato.engine.context import (
    FlowRunContext,
    FlowRunInfo,
    PreviousTaskRun,
    flow_run_context,
    flow_run_info,
)
from legato.engine.hooks import StateHooks, flow_hooks_action
from legato.engine.protocols import FlowLike
from legato.engine.results import ResultStore, task_result_key
from legato.engine.retries import decide_retry
from legato.engine.returned import MAY_CARRY_STATES, returned_state
from legato.engine.tagging import with_block_tags
from legato.engine.task_engine import finish
from legato.engine.task_machine import resume_previous
from legato.engine.task_prepare import prepare_task_run
from legato.engine.task_run import TaskRun
from legato.errors import (
    FlowTimeout,
    LegatoError,
    ParameterValidationError,
    RunTakenBack,
    SerializationError,
    TaskTimeout,
    TransitionRefused,
    describe_error,
)
from legato.ids import new_id
from legato.names import generate_run_name
from legato.orchestrator.protocol import EngineBackend
from legato.processes import this_process
from legato.states import FAILURE_TYPES, State, StateType, Transition
from legato.text import check_parameters

if TYPE_CHECKING:
    from legato.schemas.flow_runs import StoredFlowRun

logger = logging.getLogger("legato.flow_runs")

Machine = Generator[Action, Any, State]


class FlowCall:
    """Everything about one call of a flow that the machine needs."""

    def __init__(
        self,
        flow: FlowLike,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        orchestrator: EngineBackend | None = None,
        resume_flow_run_id: str | None = None,
        first_attempt: bool = False,
    ):
        self.flow = flow
        self.args = args
        self.kwargs = kwargs
        self.parent: FlowRunContext | None = flow_run_context.get()
        if self.parent is not None:
            self.orchestrator: EngineBackend = self.parent.orchestrator
        elif orchestrator is not None:
            self.orchestrator = orchestrator
        else:
            # The caller (the SDK, a worker) hands the engine its backend: the engine
            # never builds a store or an HTTP client itself.
            raise LegatoError("a top-level flow call needs an orchestrator")
        self.resume_flow_run_id = resume_flow_run_id
        # Set when the resumed run was created elsewhere and has not run yet (a
        # deployment's run, started by a worker): it is started, not rerun.
        self.first_attempt = first_attempt
        self.flow_run_id: str | None = None  # known once the machine created or found it
        self.flow_run_name: str | None = None  # known once the machine created it
        # A subflow's task run in its parent, and the stand-in task it runs as: ended
        # by the driver when the machine cannot end them itself (a crash, no stack left).
        self.parent_task_run: TaskRun | None = None
        self.subflow_task: SubflowTask | None = None
        # The run as its state hooks are told it (set once the run exists, for a flow
        # with hooks): the driver's when an error ends the run Crashed under the machine.
        self.run_info: FlowRunInfo | None = None


class SubflowTask:
    """The task-shaped stand-in that records a subflow call in its parent flow run."""

    def __init__(self, flow: FlowLike):
        self.flow = flow
        self.name = flow.name
        self.task_key = f"subflow:{flow.name}"  # flow names are unique per store
        self.tags = list(flow.tags)
        self.parameter_names: tuple[str, ...] = ()
        self.persist_result = flow.persist_result
        self.task_run_name = None

    def run_name(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        return None

    def result_store_for(self, ctx: FlowRunContext) -> ResultStore:
        return self.flow.result_store_for(ctx)


@dataclass(slots=True)
class _Run:
    """The stored flow run a call drives, as set-up found or made it."""

    flow_run_id: str
    name: str
    run_count: int  # attempts made before this call
    attempt: int = 0  # the attempt running now, counted as ``run_count`` is (0: none yet)
    scheduled_time: datetime | None = None
    # The stored run's deployment and tags (None: a run this call made, whose tags are
    # the flow's own).
    deployment_id: str | None = None
    tags: tuple[str, ...] | None = None
    previous: dict[tuple[str, int], PreviousTaskRun] = field(default_factory=dict)
    # This process, recorded with the first state it proposes when no worker holds the
    # run, so that a command can tell later that it died (emptied once proposed).
    owner: dict[str, Any] = field(default_factory=dict)


def flow_machine(call: FlowCall) -> Machine:
    """The life of one flow run called with ``call``; returns its final state."""
    flow = call.flow
    # Before anything is stored: parameters the store cannot hold are the caller's error.
    raw_parameters = flow.describe_raw_parameters(call.args, call.kwargs)
    check_parameters(flow.name, flow.jsonable(raw_parameters))

    parent_task_run: TaskRun | None = None
    if call.parent is not None:
        entered = yield from _enter_parent(call, call.parent)
        if isinstance(entered, State):
            return entered
        parent_task_run = entered

    try:
        parameters = flow.validate(call.args, call.kwargs)
        problem = None
    except ParameterValidationError as invalid:
        parameters = raw_parameters
        problem = invalid

    if call.resume_flow_run_id is not None:
        run = yield from _resume(call, call.resume_flow_run_id)
    else:
        run = yield from _create(call, parameters, parent_task_run)

    if parent_task_run is not None:
        parent_task_run.subflow_run_id = run.flow_run_id
        parent_task_run.move_to(State(StateType.RUNNING, "Running", run_id=parent_task_run.id))
        yield parent_task_run.state_op()

    hooks = flow.state_hooks
    if hooks is not None:  # what the hooks of an end the machine cannot reach are told
        call.run_info = _run_info(call, run, parameters)

    if problem is not None:
        final = State(StateType.FAILED, "Failed", str(problem), exception=problem)
        values: dict[str, Any] = {}
    else:
        final, values = yield from _attempts(call, run, parameters)

    final, stored = yield from _finish(call, run, final, values)
    if hooks is not None and stored:
        yield from _final_hooks(call, run, parameters, hooks, final)

    if call.parent is not None and parent_task_run is not None:
        yield from _end_in_parent(call, call.parent, parent_task_run, final, run.name)
    return final


# -- 1. a subflow in its parent ---------------------------------------------------------


def _enter_parent(
    call: FlowCall, parent: FlowRunContext
) -> Generator[Action, Any, TaskRun | State]:
    """Make (or find) the subflow's task run in its parent flow run: its reused final
    state when an earlier attempt completed it, else the task run (and, on a rerun,
    the subflow run to resume)."""
    subflow_task = SubflowTask(call.flow)
    prepared = prepare_task_run(parent, subflow_task, (), {}, name=call.flow.name)
    if prepared.reused is not None:
        return prepared.reused
    if prepared.previous is not None:
        reused = yield from resume_previous(parent, subflow_task, prepared)
        if reused is not None:
            return reused
    task_run = prepared.task_run
    call.parent_task_run, call.subflow_task = task_run, subflow_task
    if task_run.subflow_run_id and call.resume_flow_run_id is None:
        call.resume_flow_run_id = task_run.subflow_run_id
    return task_run


def _end_in_parent(
    call: FlowCall, parent: FlowRunContext, task_run: TaskRun, final: State, name: str
) -> Generator[Action, Any, None]:
    """The subflow's task run in its parent ends the way the subflow run ended."""
    mirrored = State(
        final.type,
        final.name,
        final.message or f"subflow run {name!r} ended {final.name}",
        data=final.data,
        exception=final.exception,
        run_id=task_run.id,
    )
    task_run.move_to(mirrored)
    yield task_run.state_op()
    assert call.subflow_task is not None
    finish(parent, call.subflow_task, task_run, mirrored)


# -- 2. set-up ----------------------------------------------------------------------------


def _create(
    call: FlowCall, parameters: dict[str, Any], parent_task_run: TaskRun | None
) -> Generator[Action, Any, _Run]:
    """A new flow run, stored Pending."""
    flow = call.flow
    flow_run_id = new_id()
    call.flow_run_id = flow_run_id
    name = flow.run_name(parameters) or generate_run_name()
    call.flow_run_name = name
    row = {
        "id": flow_run_id,
        "flow_name": flow.name,
        "name": name,
        "parameters": flow.jsonable(parameters),
        "tags": list(with_block_tags(flow.tags)),
        "entrypoint": flow.entrypoint,
        "parent_flow_run_id": call.parent.flow_run_id if call.parent else None,
        "parent_task_run_id": parent_task_run.id if parent_task_run else None,
        "run_count": 0,
        "created": time.time(),
        "start_time": None,
        "end_time": None,
        **this_process().fields(),
    }
    yield CreateFlowRun(row, State(StateType.PENDING, "Pending"))
    return _Run(flow_run_id, name, 0)


def _resume(call: FlowCall, flow_run_id: str) -> Generator[Action, Any, _Run]:
    """A stored flow run taken up again: Pending (unless a worker's run that has not
    started yet, which is Pending already), with the task runs earlier attempts left."""
    call.flow_run_id = flow_run_id
    stored: StoredFlowRun = yield ReadFlowRun(flow_run_id)
    run = _Run(
        flow_run_id,
        stored.name,
        stored.run_count,
        owner=_local_owner(call.first_attempt, stored.worker_name),
    )
    if stored.expected_start_time is not None:
        run.scheduled_time = datetime.fromtimestamp(stored.expected_start_time, UTC)
    run.deployment_id = stored.deployment_id
    if stored.tags is not None:
        run.tags = tuple(stored.tags)
    if not (call.first_attempt and stored.state_type == StateType.PENDING.value):
        message = None if call.first_attempt else f"resumed: attempt {run.run_count + 1}"
        verdict: Transition = yield ProposeFlowRunState(
            flow_run_id,
            State(StateType.PENDING, "Pending", message),
            rerun=not call.first_attempt,
            fields=run.owner or None,
        )
        run.owner = {}
        if verdict.taken_back:
            raise RunTakenBack(verdict.reason)
        if not verdict.allowed:
            raise TransitionRefused(f"cannot resume flow run {flow_run_id}: {verdict.reason}")
    run.previous = yield ReadPrevious(flow_run_id)
    return run


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


def _propose(flow_run_id: str, state: State, **fields: Any) -> Generator[Action, Any, None]:
    """Propose a state of the run going on; a refusal ends the call (it runs nothing more)."""
    verdict: Transition = yield ProposeFlowRunState(flow_run_id, state, fields=fields or None)
    if verdict.taken_back:  # another attempt may run it now: run nothing more here
        raise RunTakenBack(verdict.reason)
    if not verdict.allowed:
        raise TransitionRefused(f"flow run {flow_run_id}: {verdict.reason}")


# -- 3. attempts --------------------------------------------------------------------------


def _attempts(
    call: FlowCall, run: _Run, parameters: dict[str, Any]
) -> Generator[Action, Any, tuple[State, dict[str, Any]]]:
    """Run the body until an attempt ends the run; the state it ends in (not yet final:
    ``_finish`` stamps it) and the values of the task runs of the last attempt."""
    flow = call.flow
    attempt = run.run_count
    previous = run.previous
    while True:
        attempt += 1
        run.attempt = attempt
        now = time.time()
        fields: dict[str, Any] = {"run_count": attempt, "end_time": None, **run.owner}
        run.owner = {}
        if attempt == 1:
            fields["start_time"] = now
        running = State(StateType.RUNNING, "Running" if attempt == 1 else "Retrying", timestamp=now)
        yield from _propose(run.flow_run_id, running, **fields)
        ctx = FlowRunContext(
            flow=flow,
            flow_run_id=run.flow_run_id,
            flow_run_name=run.name,
            orchestrator=call.orchestrator,
            task_runner=flow.task_runner.duplicate(),
            result_store=flow.result_store_for(call.parent),
            log_prints=flow.log_prints,
            attempt=attempt,
            parameters=parameters,
            previous=previous,
            scheduled_time=run.scheduled_time,
            deployment_id=run.deployment_id,
            tags=run.tags,
        )
        yield Log(
            flow.logger_for(ctx),
            logging.INFO,
            "Beginning flow run %r for flow %r%s",
            (run.name, flow.name, f" (attempt {attempt})" if attempt > 1 else ""),
        )
        hooks = flow.state_hooks
        if hooks is not None:
            call.run_info = flow_run_info(ctx)
            if hooks.on_running:
                yield flow_hooks_action(
                    hooks.on_running,
                    "on_running",
                    flow,
                    call.run_info,
                    running.with_run_id(run.flow_run_id),
                    functools.partial(flow.logger_for, ctx),
                )
        outcome: Outcome = yield CallFlowBody(ctx, parameters)
        final, may_retry = yield from _judge_attempt(ctx, outcome)
        if not may_retry:
            return final, ctx.values
        decision = decide_retry(
            run_count=attempt - run.run_count,
            retries=flow.retries,
            delay=flow.retry_delay_seconds,
            jitter_factor=flow.retry_jitter_factor,
        )
        if not decision.retry:
            return final, ctx.values
        now = time.time()
        yield from _propose(
            run.flow_run_id,
            State(
                StateType.SCHEDULED,
                "AwaitingRetry",
                f"{_why(final)}; {decision.reason} in {decision.delay:.3g}s",
                timestamp=now,
                scheduled_time=now + decision.delay,
            ),
        )
        yield Log(
            flow.logger_for(ctx),
            logging.WARNING,
            "Flow run %r failed (%s); %s in %.3gs",
            (run.name, _why(final), decision.reason, decision.delay),
        )
        previous = _previous_from_attempt(ctx)
        if decision.delay > 0:
            yield Sleep(decision.delay)


def _judge_attempt(
    ctx: FlowRunContext, outcome: Outcome
) -> Generator[Action, Any, tuple[State, bool]]:
    """The state an attempt's body leads to, and whether a retry may follow. Task runs
    it leaves unfinished end with it when it crashed or timed out."""
    ok, value = outcome
    if ok:
        # A returned state (or future, or collection of them) says how the run ends
        # (every submitted task run is final by now: the body's end waited for them).
        returned = returned_state(value) if isinstance(value, MAY_CARRY_STATES) else None
        if returned is not None and returned.type is not StateType.COMPLETED:
            ending = State(
                returned.type, returned.name, returned.message, exception=returned.exception
            )
            return ending, returned.type is StateType.FAILED
        unobserved = [f for f in ctx.futures if not f.observed and f.state.type in FAILURE_TYPES]
        if not unobserved:
            if returned is not None:
                return State(
                    StateType.COMPLETED, returned.name, returned.message, data=returned.data
                ), False
            return State(StateType.COMPLETED, "Completed", data=value), False
        names = ", ".join(f._task_run.name for f in unobserved[:5])
        more = f" and {len(unobserved) - 5} more" if len(unobserved) > 5 else ""
        return State(
            StateType.FAILED,
            "Failed",
            f"{len(unobserved)} submitted task run(s) failed and their results were "
            f"never used: {names}{more}",
        ), True
    error: BaseException = value
    if not isinstance(error, Exception):
        reason = (yield from cancel_reason(ctx.flow_run_id)) if stopped(error) else None
        if reason is not None:
            # Stopped by its worker because a cancel was asked for: that is how it ends,
            # and how the task runs it was running end.
            yield from _end_active(ctx, State(StateType.CANCELLED, "Cancelled", reason))
            return State(StateType.CANCELLED, "Cancelled", reason, exception=error), False
        crashed = _crashed(error)
        yield from _end_active(
            ctx, State(StateType.CRASHED, "Crashed", f"the flow run crashed: {crashed.message}")
        )
        return crashed, False
    name = "TimedOut" if isinstance(error, TaskTimeout) else "Failed"
    failed = State(StateType.FAILED, name, describe_error(error), exception=error)
    if isinstance(error, FlowTimeout):
        yield from _end_active(
            ctx,
            State(
                StateType.FAILED,
                "TimedOut",
                "the flow run timed out before this task run finished",
            ),
        )
    return failed, True


def _why(failed: State) -> str:
    """What a failure says in a log line: its message (a returned Failed may have none)."""
    return failed.message or f"the flow returned a {failed.name} state"


def _crashed(exc: BaseException) -> State:
    if isinstance(exc, KeyboardInterrupt):
        reason = "interrupted (KeyboardInterrupt)"
    elif isinstance(exc, SystemExit):
        reason = f"the process exited (SystemExit {exc.code})"
    else:
        reason = describe_error(exc)
    return State(StateType.CRASHED, "Crashed", reason, exception=exc)


def _end_active(ctx: FlowRunContext, ending: State) -> Generator[Action, Any, None]:
    """Give every unfinished task run of the flow run the final state ``ending``: none
    is left Running forever."""
    for task_run in list(ctx.active):
        if not task_run.state.is_final():
            task_run.move_to(State(ending.type, ending.name, ending.message, run_id=task_run.id))
            yield task_run.state_op()
    ctx.active.clear()


def _previous_from_attempt(ctx: FlowRunContext) -> dict[tuple[str, int], PreviousTaskRun]:
    """What a retry in this process may reuse: every task run of the attempt, with values."""
    previous = dict(ctx.previous)
    for key, task_run in ctx.runs_by_key.items():
        held = ctx.values.get(task_run.id)
        previous[key] = PreviousTaskRun(
            id=task_run.id,
            task_key=task_run.task_key,
            dynamic_key=task_run.dynamic_key,
            state_type=task_run.state.type.value,
            state_name=task_run.state.name,
            run_count=task_run.run_count,
            result_key=task_run.result_key,
            created=task_run.created,
            start_time=task_run.start_time,
            end_time=task_run.end_time,
            cache_key=task_run.cache_key,
            cache_expiration=task_run.cache_expiration,
            subflow_run_id=task_run.subflow_run_id,
            has_value=held is not None,
            value=held[1] if held is not None else None,
        )
    return previous


# -- 4. finish ----------------------------------------------------------------------------


def _finish(
    call: FlowCall, run: _Run, final: State, values: dict[str, Any]
) -> Generator[Action, Any, tuple[State, bool]]:
    """Make the run's records durable, then propose its final state; that state, and
    whether it was stored (the rules may refuse it: a run cancelled meanwhile)."""
    flow_run_id = run.flow_run_id
    if final.type in FAILURE_TYPES and values:
        yield from _persist_for_rerun(call, flow_run_id, values)
    yield Flush()
    end = time.time()
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
    yield Log(
        call.flow.logger_for_ids(call.orchestrator, flow_run_id, run.name),
        logging.INFO if final.type is StateType.COMPLETED else logging.ERROR,
        "Finished in state %s%s",
        (final.name, f": {final.message}" if final.message else ""),
    )
    with contextlib.suppress(LegatoError):
        yield Flush()
    verdict: Transition = yield ProposeFlowRunState(flow_run_id, final, fields={"end_time": end})
    if verdict.taken_back:
        raise RunTakenBack(verdict.reason)
    if not verdict.allowed:
        logger.warning("final state of flow run %s refused: %s", flow_run_id, verdict.reason)
    return final, verdict.allowed


def _final_hooks(
    call: FlowCall, run: _Run, parameters: dict[str, Any], hooks: StateHooks, final: State
) -> Generator[Action, Any, None]:
    """Call the hooks of the final state the run was stored in, then make what they logged
    durable (a flow call returns with its run's lines stored)."""
    kind, called = hooks.for_state(final)
    if not called:
        return
    info = _run_info(call, run, parameters)
    logger = functools.partial(
        call.flow.logger_for_ids, call.orchestrator, run.flow_run_id, run.name
    )
    yield flow_hooks_action(called, kind, call.flow, info, final, logger)
    with contextlib.suppress(LegatoError):  # a worker's run: its credential ended with it
        yield Flush()


def _run_info(call: FlowCall, run: _Run, parameters: dict[str, Any]) -> FlowRunInfo:
    """The run as ``get_run_context()`` tells it inside the flow (also when no attempt ran:
    its parameters did not fit the flow)."""
    parent = call.parent
    return FlowRunInfo(
        flow_run_id=run.flow_run_id,
        flow_run_name=run.name,
        flow_name=call.flow.name,
        parameters=MappingProxyType(dict(parameters)),
        run_count=run.attempt,
        scheduled_time=run.scheduled_time,
        tags=run.tags if run.tags is not None else tuple(call.flow.tags),
        deployment_id=run.deployment_id,
        parent_flow_run=(
            None if parent is None or parent.flow_run_id is None else flow_run_info(parent)
        ),
    )


def _persist_for_rerun(
    call: FlowCall, flow_run_id: str, values: dict[str, Any]
) -> Generator[Action, Any, None]:
    """Write the in-memory values of completed task runs so `runs retry` can skip them."""
    store = call.flow.result_store_for(call.parent)
    for task_run, value in values.values():
        if task_run.result_key is not None or task_run.state.type is not StateType.COMPLETED:
            continue
        key = task_result_key(flow_run_id, task_run.id)
        try:
            yield WriteResult(store, key, value)
        except (SerializationError, OSError) as exc:
            logger.warning(
                "result of task run %r not kept for a retry (%s); it will run again",
                task_run.name,
                exc,
            )
            continue
        task_run.result_key = key
        yield task_run.update_op()
