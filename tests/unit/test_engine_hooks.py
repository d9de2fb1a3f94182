"""Which hooks a state calls, and how a log line names a hook: pure decisions."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from legato import FlowOptions, State, StateType, TaskOptions
from legato.engine.hooks import StateHooks, hook_name


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
