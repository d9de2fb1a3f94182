"""The task and flow machines, driven by hand against the in-memory backend: what each
answer (a refused proposal, a cache entry, a body raising on its first attempt) leads
to, read as the actions asked for and the states proposed."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import legato
from fixtures.engine_memory import Hand, MemoryOrchestrator, MemoryResultStore, flow_context
from legato.engine.actions import (
    AcquireSlots,
    CallFlowBody,
    CallTask,
    Flush,
    LookUpCache,
    ProposeFlowRunState,
    ReadResult,
    Sleep,
    WriteResult,
)
from legato.engine.context import PreviousTaskRun, TaskRunContext
from legato.engine.flow_engine import FlowCall, run_flow_async, run_flow_sync
from legato.engine.flow_machine import flow_machine
from legato.engine.futures import LegatoFuture
from legato.engine.protocols import FlowLike, RecordedTask, TaskLike
from legato.engine.task_machine import task_machine
from legato.engine.task_prepare import prepare_task_run
from legato.errors import (
    Abort,
    RunTakenBack,
    TaskTimeout,
    TransitionRefused,
)
from legato.ops import UpdateTaskRun
from legato.states import State, StateType

# -- the task machine -------------------------------------------------------------------


def _work(x: int) -> int:
    return x + 1


def _key(context: Any, parameters: dict[str, Any]) -> str:
    return f"key-{parameters['x']}"


def _boom() -> ValueError:
    return ValueError("boom")


@dataclass
class TaskCase:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    bodies: list[tuple[bool, Any]] = field(default_factory=lambda: [(True, 2)])
    cache: dict[str, str] = field(default_factory=dict)
    stored: dict[str, Any] = field(default_factory=dict)
    limited: list[str] = field(default_factory=list)
    full: set[str] = field(default_factory=set)
    states: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    final: str = "Completed"


TASK_CASES = [
    TaskCase(
        "runs once",
        states=["Running", "Completed"],
        kinds=["record", "CallTask", "record"],
    ),
    TaskCase(
        "fails then succeeds on its retry",
        options={"retries": 1},
        bodies=[(False, _boom()), (True, 2)],
        states=["Running", "AwaitingRetry", "Retrying", "Completed"],
        kinds=["record", "CallTask", "record", "Log", "record", "CallTask", "record"],
    ),
    TaskCase(
        "sleeps its retry delay before the retry",
        options={"retries": 1, "retry_delay_seconds": 5},
        bodies=[(False, _boom()), (True, 2)],
        states=["Running", "AwaitingRetry", "Retrying", "Completed"],
        kinds=["record", "CallTask", "record", "Log", "Sleep", "record", "CallTask", "record"],
    ),
    TaskCase(
        "fails for good with no retries left",
        options={"retries": 1},
        bodies=[(False, _boom()), (False, _boom())],
        states=["Running", "AwaitingRetry", "Retrying", "Failed"],
        final="Failed",
    ),
    TaskCase(
        "is not retried when its retry condition declines",
        options={"retries": 3, "retry_condition_fn": lambda task, run, state: False},
        bodies=[(False, _boom())],
        states=["Running", "Failed"],
        kinds=["record", "CallTask", "Log", "record"],
        final="Failed",
    ),
    TaskCase(
        "ends TimedOut when its body timed out",
        bodies=[(False, TaskTimeout("too slow"))],
        states=["Running", "TimedOut"],
        final="TimedOut",
    ),
    TaskCase(
        "ends Crashed and is never retried after an interrupt",
        options={"retries": 3},
        bodies=[(False, KeyboardInterrupt())],
        states=["Running", "Crashed"],
        kinds=["record", "CallTask", "record"],
        final="Crashed",
    ),
    TaskCase(
        "is Cached without running when its key has a readable entry",
        options={"cache_key_fn": _key},
        bodies=[],
        cache={"key-1": "cache/stored"},
        stored={"cache/stored": 7},
        states=["Cached"],
        kinds=["LookUpCache", "ReadResult", "record"],
        final="Cached",
    ),
    TaskCase(
        "runs and writes its cache entry when its key has none",
        options={"cache_key_fn": _key},
        states=["Running", "Completed"],
        kinds=["LookUpCache", "record", "CallTask", "WriteResult", "record"],
    ),
    TaskCase(
        "runs when its cache entry cannot be read",
        options={"cache_key_fn": _key},
        cache={"key-1": "cache/gone"},
        states=["Running", "Completed"],
        kinds=["LookUpCache", "ReadResult", "record", "CallTask", "WriteResult", "record"],
    ),
    TaskCase(
        "runs without looking up the cache when told to refresh it",
        options={"cache_key_fn": _key, "refresh_cache": True},
        cache={"key-1": "cache/stored"},
        stored={"cache/stored": 7},
        states=["Running", "Completed"],
        kinds=["record", "CallTask", "WriteResult", "record"],
    ),
    TaskCase(
        "writes its result when results are persisted",
        options={"persist_result": True},
        states=["Running", "Completed"],
        kinds=["record", "CallTask", "WriteResult", "record"],
    ),
    TaskCase(
        "fails naming the value when its result cannot be pickled",
        options={"persist_result": True},
        bodies=[(True, threading.Lock())],
        states=["Running", "Failed"],
        kinds=["record", "CallTask", "WriteResult", "record"],
        final="Failed",
    ),
    TaskCase(
        "takes its tag's slot before each attempt and gives it back after",
        options={"tags": ["db"]},
        limited=["db"],
        states=["Running", "Completed"],
        kinds=["LoadTagSlots", "AcquireSlots", "record", "CallTask", "ReleaseSlots", "record"],
    ),
    TaskCase(
        "waits Pending while its tag's slots are taken",
        options={"tags": ["db", "other"]},
        limited=["db"],
        full={"db"},
        states=["Pending", "Running", "Completed"],
        kinds=[
            "LoadTagSlots",
            "AcquireSlots",
            "record",
            "AcquireSlots",
            "record",
            "CallTask",
            "ReleaseSlots",
            "record",
        ],
    ),
    TaskCase(
        "takes no slot when none of its tags is limited",
        options={"tags": ["other"]},
        limited=["db"],
        states=["Running", "Completed"],
        kinds=["LoadTagSlots", "record", "CallTask", "record"],
    ),
]


@pytest.mark.parametrize("case", TASK_CASES, ids=[case.name for case in TASK_CASES])
def test_task_machine(case: TaskCase) -> None:
    orch = MemoryOrchestrator(cache=case.cache, limited_tags=case.limited, full_tags=case.full)
    store = MemoryResultStore()
    store.values.update(case.stored)
    ctx = flow_context(orch, store)
    task = legato.task(_work, **case.options)
    prepared = prepare_task_run(ctx, task, (1,), {})
    orch.ops.clear()  # the insert and Pending of prepare
    hand = Hand(orch, bodies=list(case.bodies), ctx=ctx)
    tctx = TaskRunContext(task, prepared.task_run, ctx, (), {}, False)

    final = hand.drive(task_machine(tctx, task, prepared))

    assert orch.state_names() == case.states
    if case.kinds:
        assert hand.kinds() == case.kinds
    assert final.name == case.final
    assert prepared.task_run.state is final
    assert hand.bodies == []


def test_a_task_run_reads_its_cached_value_from_the_entry_found() -> None:
    orch = MemoryOrchestrator(cache={"key-1": "cache/stored"})
    store = MemoryResultStore()
    store.values["cache/stored"] = 7
    ctx = flow_context(orch, store)
    task = legato.task(_work, cache_key_fn=_key)
    prepared = prepare_task_run(ctx, task, (1,), {})
    hand = Hand(orch, ctx=ctx)

    final = hand.drive(
        task_machine(TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared)
    )

    assert final.data == 7
    assert final.result_key == "cache/stored"
    lookup, read = hand.actions[0], hand.actions[1]
    assert isinstance(lookup, LookUpCache) and lookup.cache_key == "key-1"
    assert isinstance(read, ReadResult) and read.key == "cache/stored"


def test_a_task_run_written_to_its_cache_key_is_found_by_the_next_call() -> None:
    orch = MemoryOrchestrator()
    ctx = flow_context(orch)
    task = legato.task(_work, cache_key_fn=_key)
    first = prepare_task_run(ctx, task, (1,), {})
    Hand(orch, bodies=[(True, 2)], ctx=ctx).drive(
        task_machine(TaskRunContext(task, first.task_run, ctx, (), {}, False), task, first)
    )
    second = prepare_task_run(ctx, task, (1,), {})
    hand = Hand(orch, ctx=ctx)

    final = hand.drive(
        task_machine(TaskRunContext(task, second.task_run, ctx, (), {}, False), task, second)
    )

    assert final.name == "Cached"
    assert hand.kinds() == ["ReadResult", "record"]  # found in this process: no look-up
    write = [a for a in hand.actions if isinstance(a, WriteResult)]
    assert write == []


def test_a_task_run_the_flow_run_ended_keeps_that_end_when_its_body_returns() -> None:
    orch = MemoryOrchestrator()
    ctx = flow_context(orch)
    task = legato.task(_work)
    prepared = prepare_task_run(ctx, task, (1,), {})
    timed_out = State(StateType.FAILED, "TimedOut", "the flow run timed out")

    def end_then_return(action: Any) -> tuple[bool, Any]:
        prepared.task_run.move_to(timed_out)
        return (True, 2)

    hand = Hand(orch, answers={CallTask: end_then_return}, ctx=ctx)
    final = hand.drive(
        task_machine(TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared)
    )

    assert final is timed_out
    assert orch.state_names(prepared.task_run.id)[-1] == "Running"


def test_a_task_run_whose_upstream_failed_ends_upstream_failed_without_running() -> None:
    orch = MemoryOrchestrator()
    ctx = flow_context(orch)
    task = legato.task(_work)
    upstream = prepare_task_run(ctx, task, (1,), {})
    future: LegatoFuture[int] = LegatoFuture(upstream.task_run)
    future.set_state(State(StateType.FAILED, "Failed", "boom"))
    prepared = prepare_task_run(ctx, task, (future,), {})
    orch.ops.clear()
    hand = Hand(orch, ctx=ctx)

    final = hand.drive(
        task_machine(TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared)
    )

    assert hand.kinds() == ["WaitFor", "record"]
    assert final.name == "UpstreamFailed"
    assert "upstream task run _work-0 (Failed)" in (final.message or "")


def test_a_task_run_gets_the_values_of_its_completed_upstreams() -> None:
    orch = MemoryOrchestrator()
    ctx = flow_context(orch)
    task = legato.task(_work)
    upstream = prepare_task_run(ctx, task, (1,), {})
    future: LegatoFuture[int] = LegatoFuture(upstream.task_run)
    future.set_state(State(StateType.COMPLETED, "Completed", data=41))
    prepared = prepare_task_run(ctx, task, ([future],), {})
    hand = Hand(orch, ctx=ctx, bodies=[(True, 42)])

    hand.drive(
        task_machine(TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared)
    )

    call = next(a for a in hand.actions if isinstance(a, CallTask))
    assert call.args == ([41],)


def _previous(state_type: StateType, result_key: str | None) -> PreviousTaskRun:
    return PreviousTaskRun(
        id="task-run-1",
        task_key="test_engine_machines._work",
        dynamic_key=0,
        state_type=state_type.value,
        state_name=state_type.value.title(),
        run_count=1,
        result_key=result_key,
        created=1.0,
        start_time=1.0,
        end_time=2.0,
    )


@pytest.mark.parametrize(
    ("previous", "stored", "states", "kinds", "final"),
    [
        pytest.param(
            _previous(StateType.COMPLETED, "runs/f/task-run-1"),
            {"runs/f/task-run-1": 5},
            [],
            ["ReadResult"],
            "Completed",
            id="reused when its stored value reads",
        ),
        pytest.param(
            _previous(StateType.COMPLETED, "runs/f/task-run-1"),
            {},
            ["Pending", "Running", "Completed"],
            ["ReadResult", "record", "record", "CallTask", "record"],
            "Completed",
            id="run again when its stored value is gone",
        ),
        pytest.param(
            _previous(StateType.FAILED, None),
            {},
            ["Pending", "Running", "Completed"],
            ["record", "CallTask", "record"],
            "Completed",
            id="run again when it failed",
        ),
    ],
)
def test_an_earlier_attempts_task_run(
    previous: PreviousTaskRun,
    stored: dict[str, Any],
    states: list[str],
    kinds: list[str],
    final: str,
) -> None:
    orch = MemoryOrchestrator()
    store = MemoryResultStore()
    store.values.update(stored)
    ctx = flow_context(orch, store)
    task = legato.task(_work)
    ctx.previous = {(task.task_key, 0): previous}
    prepared = prepare_task_run(ctx, task, (1,), {})
    assert prepared.reused is None
    hand = Hand(orch, ctx=ctx, bodies=[(True, 2)] if "CallTask" in kinds else [])

    state = hand.drive(
        task_machine(TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared)
    )

    assert hand.kinds() == kinds
    assert orch.state_names() == states
    assert state.name == final
    assert prepared.task_run.id == "task-run-1"
    if not states:
        assert state.data == 5
        assert ctx.values["task-run-1"][1] == 5


def test_an_earlier_attempts_value_held_in_memory_is_reused_without_a_read() -> None:
    orch = MemoryOrchestrator()
    ctx = flow_context(orch)
    task = legato.task(_work)
    previous = dataclasses.replace(_previous(StateType.COMPLETED, None), has_value=True, value=9)
    ctx.previous = {(task.task_key, 0): previous}

    prepared = prepare_task_run(ctx, task, (1,), {})

    assert prepared.reused is not None and prepared.reused.data == 9
    assert orch.ops == []


# -- the flow machine -------------------------------------------------------------------


def _flow(**options: Any) -> Any:
    def body(x: int = 1) -> int:
        return x

    return legato.flow(body, name="machine-test", **options)


@dataclass
class FlowCase:
    name: str
    options: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = (1,)
    bodies: list[tuple[bool, Any]] = field(default_factory=lambda: [(True, 1)])
    states: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    final: str = "Completed"


FLOW_CASES = [
    FlowCase(
        "creates a run, runs the body once and ends Completed",
        states=["Pending", "Running", "Completed"],
        kinds=[
            "CreateFlowRun",
            "ProposeFlowRunState",
            "Log",
            "CallFlowBody",
            "Flush",
            "Log",
            "Flush",
            "ProposeFlowRunState",
        ],
    ),
    FlowCase(
        "retries a failed body while retries are left",
        options={"retries": 1, "retry_delay_seconds": 2},
        bodies=[(False, _boom()), (True, 1)],
        states=["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"],
        kinds=[
            "CreateFlowRun",
            "ProposeFlowRunState",
            "Log",
            "CallFlowBody",
            "ProposeFlowRunState",
            "Log",
            "Sleep",
            "ProposeFlowRunState",
            "Log",
            "CallFlowBody",
            "Flush",
            "Log",
            "Flush",
            "ProposeFlowRunState",
        ],
    ),
    FlowCase(
        "ends Failed when the body fails with no retries",
        bodies=[(False, _boom())],
        states=["Pending", "Running", "Failed"],
        final="Failed",
    ),
    FlowCase(
        "ends Crashed without a retry when the body is interrupted",
        options={"retries": 2},
        bodies=[(False, KeyboardInterrupt())],
        states=["Pending", "Running", "Crashed"],
        final="Crashed",
    ),
    FlowCase(
        "ends Failed without running when its parameters do not validate",
        args=("not a number",),
        bodies=[],
        states=["Pending", "Failed"],
        kinds=["CreateFlowRun", "Flush", "Log", "Flush", "ProposeFlowRunState"],
        final="Failed",
    ),
]


@pytest.mark.parametrize("case", FLOW_CASES, ids=[case.name for case in FLOW_CASES])
def test_flow_machine(case: FlowCase) -> None:
    orch = MemoryOrchestrator()
    call = FlowCall(_flow(**case.options), case.args, {}, orchestrator=orch)  # type: ignore[arg-type]
    hand = Hand(orch, bodies=list(case.bodies))

    final = hand.drive(flow_machine(call))

    assert call.flow_run_id is not None
    assert [s.name for s in orch.history[call.flow_run_id]] == case.states
    if case.kinds:
        assert hand.kinds() == case.kinds
    assert final.name == case.final
    assert hand.bodies == []


def test_a_flow_run_whose_running_state_is_refused_runs_nothing() -> None:
    orch = MemoryOrchestrator()
    call = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]

    def refuse(action: ProposeFlowRunState) -> Any:
        orch.refuse = "a limit is reached"
        return orch.set_flow_run_state(action.flow_run_id, action.state, fields=action.fields)

    hand = Hand(orch, answers={ProposeFlowRunState: refuse})

    with pytest.raises(TransitionRefused, match="a limit is reached"):
        hand.drive(flow_machine(call))
    assert "CallFlowBody" not in hand.kinds()


def test_a_flow_run_taken_back_from_its_process_runs_nothing_more() -> None:
    orch = MemoryOrchestrator(take_back=True)
    call = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]
    hand = Hand(orch)

    with pytest.raises(RunTakenBack):
        hand.drive(flow_machine(call))
    assert hand.kinds() == ["CreateFlowRun", "ProposeFlowRunState"]


def test_a_flow_run_whose_final_state_is_refused_still_returns_it() -> None:
    orch = MemoryOrchestrator()
    call = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]
    hand = Hand(
        orch, bodies=[(True, 1)], answers={Flush: lambda action: setattr(orch, "refuse", "no")}
    )

    final = hand.drive(flow_machine(call))

    assert final.name == "Completed"
    assert [s.name for s in orch.history[call.flow_run_id or ""]] == ["Pending", "Running"]


def test_a_flow_run_stopped_by_its_worker_after_a_cancel_ends_cancelled() -> None:
    orch = MemoryOrchestrator()
    call = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]

    def cancel_while_running(action: CallFlowBody) -> Any:
        row = orch.flow_runs[call.flow_run_id or ""]
        row.update(state_type=StateType.CANCELLING.value, state_message="not needed today")
        return (False, Abort("the process received SIGTERM"))

    hand = Hand(orch, answers={CallFlowBody: cancel_while_running})

    final = hand.drive(flow_machine(call))

    assert (final.name, final.message) == ("Cancelled", "not needed today")


def test_a_flow_run_that_ends_failed_keeps_its_task_values_for_a_rerun() -> None:
    orch = MemoryOrchestrator()
    store = MemoryResultStore()
    flow = _flow(result_storage="memory://")
    flow._result_store = store
    call = FlowCall(flow, (1,), {}, orchestrator=orch)  # type: ignore[arg-type]
    task = legato.task(_work)

    def run_a_task_then_fail(action: CallFlowBody) -> Any:
        ctx = action.context
        prepared = prepare_task_run(ctx, task, (1,), {})
        Hand(orch, bodies=[(True, 2)], ctx=ctx).drive(
            task_machine(
                TaskRunContext(task, prepared.task_run, ctx, (), {}, False), task, prepared
            )
        )
        from legato.engine.task_engine import finish

        finish(ctx, task, prepared.task_run, prepared.task_run.state)
        return (False, _boom())

    hand = Hand(orch, answers={CallFlowBody: run_a_task_then_fail})

    final = hand.drive(flow_machine(call))

    assert final.name == "Failed"
    writes = [a for a in hand.actions if isinstance(a, WriteResult)]
    assert [w.value for w in writes] == [2]
    assert list(store.values.values()) == [2]
    updates = [a for a in hand.actions if isinstance(a, UpdateTaskRun)]
    assert len(updates) == 1


def test_a_stored_flow_run_is_resumed_with_what_its_earlier_attempt_left() -> None:
    orch = MemoryOrchestrator()
    first = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]
    Hand(orch, bodies=[(False, _boom())]).drive(flow_machine(first))
    flow_run_id = first.flow_run_id or ""
    orch.task_runs_by_key[flow_run_id] = {
        ("a-task", 0): PreviousTaskRun(
            id="task-run-1",
            task_key="a-task",
            dynamic_key=0,
            state_type="COMPLETED",
            state_name="Completed",
            run_count=1,
            result_key="runs/x",
            created=1.0,
            start_time=1.0,
            end_time=2.0,
        )
    }
    again = FlowCall(
        _flow(),
        (),
        {"x": 1},
        orchestrator=orch,
        resume_flow_run_id=flow_run_id,  # type: ignore[arg-type]
    )
    seen: list[Any] = []

    def body(action: CallFlowBody) -> Any:
        seen.append(action.context)
        return (True, 1)

    hand = Hand(orch, answers={CallFlowBody: body})

    final = hand.drive(flow_machine(again))

    assert hand.kinds()[:3] == ["ReadFlowRun", "ProposeFlowRunState", "ReadPrevious"]
    pending = hand.actions[1]
    assert isinstance(pending, ProposeFlowRunState) and pending.rerun
    assert pending.state.message == "resumed: attempt 2"
    assert [s.name for s in orch.history[flow_run_id]][-3:] == ["Pending", "Retrying", "Completed"]
    assert final.name == "Completed"
    assert seen[0].attempt == 2
    assert seen[0].previous[("a-task", 0)].id == "task-run-1"


# -- the drivers: what runs where ---------------------------------------------------------


def test_the_async_driver_does_the_flow_runs_blocking_calls_off_the_event_loop() -> None:
    orch = MemoryOrchestrator()
    tracked = legato.task(_async_work)

    @legato.flow(name="async-machine-test")
    async def gathered() -> int:
        return sum(await asyncio.gather(*(tracked(i) for i in range(3))))

    async def run() -> tuple[State, str]:
        loop_thread = threading.current_thread().name
        call = FlowCall(gathered, (), {}, orchestrator=orch)  # type: ignore[arg-type]
        return await run_flow_async(call), loop_thread

    state, loop_thread = asyncio.run(run())

    assert state.result() == 3
    blocking = {"create_flow_run", "set_flow_run_state", "flush"}
    assert {name for name, _ in orch.calls} >= blocking
    assert all(thread != loop_thread for name, thread in orch.calls if name in blocking)
    # Records go to the writer's queue from the loop itself: no thread hop per state.
    assert {thread for name, thread in orch.calls if name == "enqueue"} == {loop_thread}
    assert orch.state_names().count("Completed") == 3


async def _async_work(x: int) -> int:
    await asyncio.sleep(0)
    return x


def test_the_async_driver_reads_and_writes_results_off_the_event_loop() -> None:
    orch = MemoryOrchestrator()
    threads: list[str] = []
    store = MemoryResultStore()
    write, read = store.write, store.read

    def noting(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            threads.append(threading.current_thread().name)
            return fn(*args)

        return call

    store.write, store.read = noting(write), noting(read)  # type: ignore[method-assign]
    tracked = legato.task(_async_work, persist_result=True)

    @legato.flow(name="async-results-test", result_storage="memory://")
    async def persisted() -> int:
        return await tracked(1)

    persisted._result_store = store

    async def run() -> tuple[State, str]:
        call = FlowCall(persisted, (), {}, orchestrator=orch)  # type: ignore[arg-type]
        return await run_flow_async(call), threading.current_thread().name

    state, loop_thread = asyncio.run(run())

    assert state.result() == 1
    assert threads and loop_thread not in threads


def test_the_sync_driver_does_everything_in_the_calling_thread() -> None:
    orch = MemoryOrchestrator()
    call = FlowCall(_flow(), (1,), {}, orchestrator=orch)  # type: ignore[arg-type]

    state = run_flow_sync(call)

    assert state.result() == 1
    assert {thread for _, thread in orch.calls} == {threading.current_thread().name}


# -- what the engine needs of a task and a flow ---------------------------------------------


def test_the_sdks_task_and_flow_are_what_the_engine_needs() -> None:
    def check_task(task: TaskLike) -> RecordedTask:
        return task

    def check_flow(flow: FlowLike) -> FlowLike:
        return flow

    task = check_task(legato.task(_work))
    flow = check_flow(_flow())

    for protocol, value in ((TaskLike, task), (FlowLike, flow)):
        members = [name for name in dir(protocol) if not name.startswith("_")]
        assert members and all(hasattr(value, name) for name in members), protocol


def test_every_action_the_drivers_wait_on_is_marked_blocking() -> None:
    assert WriteResult.blocking and ReadResult.blocking and LookUpCache.blocking
    assert ProposeFlowRunState.blocking and Flush.blocking and AcquireSlots.blocking
    assert not CallTask.blocking and not Sleep.blocking
