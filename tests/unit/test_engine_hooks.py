"""Which hooks a state calls, how a log line names a hook, and where the machines ask for
them (driven by hand against the in-memory backend)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import pytest

import legato
from fixtures.engine_memory import Hand, MemoryOrchestrator, flow_context
from legato import FlowOptions, State, StateType, TaskOptions
from legato.engine.actions import CallHooks, CallTask, Flush
from legato.engine.context import TaskRunContext
from legato.engine.flow_engine import FlowCall
from legato.engine.flow_machine import flow_machine
from legato.engine.hooks import StateHooks, hook_name, with_task_hooks
from legato.engine.task_machine import task_machine
from legato.engine.task_prepare import prepare_task_run


def running(definition: Any, run: Any, state: State) -> None:
    return None


def ended(definition: Any, run: Any, state: State, *, channel: str = "") -> None:
    return None


class Notifier:
    def __call__(self, definition: Any, run: Any, state: State) -> None:
        return None


HOOKS = StateHooks(
    on_completion=(ended,),
    on_failure=(ended, running),
    on_crashed=(running,),
    on_cancellation=(ended,),
    on_running=(running,),
)


@pytest.mark.parametrize(
    ("state_type", "name", "kind", "hooks"),
    [
        (StateType.RUNNING, "Running", "on_running", (running,)),
        (StateType.RUNNING, "Retrying", "on_running", (running,)),
        (StateType.COMPLETED, "Completed", "on_completion", (ended,)),
        (StateType.COMPLETED, "Cached", "on_completion", (ended,)),
        (StateType.FAILED, "Failed", "on_failure", (ended, running)),
        (StateType.FAILED, "TimedOut", "on_failure", (ended, running)),
        (StateType.FAILED, "UpstreamFailed", "on_failure", (ended, running)),
        (StateType.CRASHED, "Crashed", "on_crashed", (running,)),
        (StateType.CANCELLED, "Cancelled", "on_cancellation", (ended,)),
        (StateType.CANCELLING, "Cancelling", "", ()),
        (StateType.SCHEDULED, "AwaitingRetry", "", ()),
        (StateType.PENDING, "Pending", "", ()),
    ],
)
def test_a_state_calls_the_hooks_of_its_type(
    state_type: StateType, name: str, kind: str, hooks: tuple[Any, ...]
) -> None:
    assert HOOKS.for_state(State(state_type, name)) == (kind, hooks)


def test_options_without_hooks_give_no_state_hooks() -> None:
    assert StateHooks.of(TaskOptions()) is None
    assert StateHooks.of(FlowOptions()) is None
    assert StateHooks.of(TaskOptions(on_failure=(ended,))) == StateHooks(on_failure=(ended,))


def test_a_hook_is_named_by_its_function() -> None:
    assert hook_name(running) == "running"
    assert hook_name(functools.partial(ended, channel="ops")) == "ended"
    assert hook_name(functools.partial(functools.partial(ended), channel="ops")) == "ended"
    assert hook_name(Notifier()) == "Notifier"
    assert hook_name(lambda flow, run, state: None) == "<lambda>"


# -- where the machines ask for them ------------------------------------------------------


def _asked(seen: list[tuple[str, str]]) -> dict[type, Any]:
    """Hand answers that note each CallHooks action as (kind, state name)."""

    def note(action: CallHooks) -> None:
        seen.append((action.kind, action.state.name))

    return {CallHooks: note}


def _task_run(options: dict[str, Any]) -> tuple[Any, Any, Any, MemoryOrchestrator]:
    orch = MemoryOrchestrator()
    ctx = dataclasses.replace(flow_context(orch), flow=legato.flow(lambda: None, name="f"))
    task = legato.task(lambda x: x, name="t", **options)
    prepared = prepare_task_run(ctx, task, (1,), {})
    tctx = TaskRunContext(task, prepared.task_run, ctx, (1,), {}, False)
    machine = with_task_hooks(task_machine(tctx, task, prepared), tctx, task.state_hooks)
    return ctx, machine, prepared, orch


def test_task_hooks_are_asked_for_before_each_body_and_once_after_the_final_record() -> None:
    seen: list[tuple[str, str]] = []
    ctx, machine, _, orch = _task_run(
        {"retries": 1, "on_running": [running], "on_failure": [ended], "on_completion": [ended]}
    )
    hand = Hand(orch, bodies=[(False, ValueError("a")), (False, ValueError("b"))], ctx=ctx)
    hand.answers.update(_asked(seen))

    final = hand.drive(machine)

    assert final.name == "Failed"
    assert seen == [("on_running", "Running"), ("on_running", "Retrying"), ("on_failure", "Failed")]
    kinds = hand.kinds()
    assert kinds[-2:] == ["record", "CallHooks"]
    assert kinds.index("CallHooks") == kinds.index("CallTask") - 1


def test_task_hooks_are_not_asked_for_a_state_the_flow_run_gave_the_task_run() -> None:
    seen: list[tuple[str, str]] = []
    ctx, machine, prepared, orch = _task_run({"on_failure": [ended], "on_completion": [ended]})

    def flow_run_ends_it(action: CallTask) -> Any:
        prepared.task_run.move_to(State(StateType.FAILED, "TimedOut", run_id="x"))
        return (True, 1)

    hand = Hand(orch, answers={CallTask: flow_run_ends_it, **_asked(seen)}, ctx=ctx)

    final = hand.drive(machine)

    assert final.name == "TimedOut"
    assert seen == []


def test_an_interrupt_in_on_running_is_the_body_outcome_and_the_body_is_not_called() -> None:
    ctx, machine, _, orch = _task_run({"on_running": [running]})

    def interrupt(action: CallHooks) -> None:
        raise KeyboardInterrupt

    hand = Hand(orch, answers={CallHooks: interrupt}, ctx=ctx)

    final = hand.drive(machine)

    assert final.name == "Crashed"
    assert "CallTask" not in hand.kinds()


@pytest.mark.parametrize(
    ("bodies", "retries", "expected"),
    [
        ([(True, 1)], 0, [("on_running", "Running"), ("on_completion", "Completed")]),
        (
            [(False, ValueError("a")), (False, ValueError("b"))],
            1,
            [("on_running", "Running"), ("on_running", "Retrying"), ("on_failure", "Failed")],
        ),
        ([(False, KeyboardInterrupt())], 2, [("on_running", "Running"), ("on_crashed", "Crashed")]),
    ],
)
def test_flow_hooks_are_asked_for_before_each_body_and_after_the_final_state(
    bodies: list[tuple[bool, Any]], retries: int, expected: list[tuple[str, str]]
) -> None:
    seen: list[tuple[str, str]] = []
    orch = MemoryOrchestrator()
    every = {kind: [ended] for kind in ("on_completion", "on_failure", "on_crashed")}
    flow = legato.flow(lambda x=1: x, name="hooked", retries=retries, on_running=[running], **every)
    call = FlowCall(flow, (), {}, orchestrator=orch)
    hand = Hand(orch, bodies=list(bodies), answers=_asked(seen))

    hand.drive(flow_machine(call))

    assert seen == expected
    kinds = hand.kinds()
    assert kinds[-4:] == ["Flush", "ProposeFlowRunState", "CallHooks", "Flush"]


def test_flow_hooks_are_not_asked_for_when_the_final_state_is_refused() -> None:
    seen: list[tuple[str, str]] = []
    orch = MemoryOrchestrator()
    flow = legato.flow(lambda: 1, name="refused", on_completion=[ended])
    call = FlowCall(flow, (), {}, orchestrator=orch)
    hand = Hand(
        orch,
        bodies=[(True, 1)],
        answers={Flush: lambda action: setattr(orch, "refuse", "no"), **_asked(seen)},
    )

    assert hand.drive(flow_machine(call)).name == "Completed"
    assert seen == []
