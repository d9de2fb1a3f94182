"""The states a flow run or task run moves through, and the verdict on a proposed move.

Pure data shared by the engine, the store and the server: nothing here does I/O.
Which move is allowed is decided in :mod:`legato.orchestration.transitions`. A state
has a *type*, which the rules reason about, and a *name*, which is what people read (``Cached`` is a ``COMPLETED`` type, ``Retrying`` a
``RUNNING`` one, ``TimedOut`` and ``UpstreamFailed`` are ``FAILED`` ones).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class StateType(StrEnum):
    """The kind of a state, which the rules and the queries go by; a state's name
    (Late, AwaitingRetry, Retrying, Skipped...) refines it for people."""

    SCHEDULED = "SCHEDULED"  # waiting for its time (also Late and AwaitingRetry)
    PENDING = "PENDING"  # created, about to run (inputs being resolved)
    RUNNING = "RUNNING"  # the user's code is executing (also Retrying)
    COMPLETED = "COMPLETED"  # finished and returned (also Cached)
    FAILED = "FAILED"  # raised, timed out, or could not run because an upstream failed
    CRASHED = "CRASHED"  # legato or the process died under it (signal, interrupt, internal error)
    CANCELLING = "CANCELLING"  # a cancel was asked for and is being carried out
    CANCELLED = "CANCELLED"  # stopped on request
    PAUSED = "PAUSED"  # waiting for a person or an event to resume it


TERMINAL_TYPES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)
"""A run in one of these has ended; it leaves them only through an explicit rerun."""

FAILURE_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
"""Ends that count as 'did not produce a result' for downstream tasks and flows."""

ACTIVE_TYPES = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})
"""A run in one of these is (about to be) executing somewhere."""


@dataclass(frozen=True, slots=True)
class Transition:
    """The verdict on a proposed move: accepted, or refused with a reason people can read."""

    allowed: bool
    reason: str = ""
    taken_back: bool = False
    """Refused because the run is no longer the proposer's: its attempt token was
    replaced or cleared (see :mod:`legato.store.run_tokens`); the proposer must stop."""


@dataclass(frozen=True, slots=True)
class State:
    """One point in a run's history.

    ``data`` holds the result value in memory for the process that produced it and
    is never stored; ``result_key`` names where a persisted copy lives.
    ``scheduled_time`` is set for Scheduled-type states (when to run next).
    """

    type: StateType
    name: str
    message: str | None = None
    timestamp: float = field(default_factory=time.time)
    scheduled_time: float | None = None
    result_key: str | None = None
    data: Any = field(default=None, repr=False, compare=False)
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    run_id: str | None = None

    def is_final(self) -> bool:
        return self.type in TERMINAL_TYPES

    def is_completed(self) -> bool:
        return self.type is StateType.COMPLETED

    def is_failed(self) -> bool:
        return self.type is StateType.FAILED

    def is_crashed(self) -> bool:
        return self.type is StateType.CRASHED

    def is_cancelled(self) -> bool:
        return self.type is StateType.CANCELLED

    def is_running(self) -> bool:
        return self.type is StateType.RUNNING

    def is_pending(self) -> bool:
        return self.type is StateType.PENDING

    def is_scheduled(self) -> bool:
        return self.type is StateType.SCHEDULED

    def with_run_id(self, run_id: str) -> State:
        return replace(self, run_id=run_id)

    def result(self, raise_on_failure: bool = True) -> Any:
        """The value this state carries; the exception it recorded if it failed.

        Raises the run's own exception for Failed/Crashed/Cancelled states (or a
        :class:`legato.errors.RunFailed` that says why when the exception is not
        held in this process) unless ``raise_on_failure`` is false.
        """
        if self.type in FAILURE_TYPES:
            if not raise_on_failure:
                return self.exception
            if self.exception is not None:
                raise self.exception
            from legato.errors import RunFailed

            raise RunFailed(f"{self.name}: {self.message or 'the run did not complete'}")
        return self.data


def _state(type_: StateType, name: str) -> Any:
    def make(message: str | None = None, **kwargs: Any) -> State:
        return State(type_, name, message, **kwargs)

    make.__name__ = name
    make.__doc__ = f"A {name} state (type {type_.value})."
    return make


Scheduled = _state(StateType.SCHEDULED, "Scheduled")
Late = _state(StateType.SCHEDULED, "Late")
AwaitingRetry = _state(StateType.SCHEDULED, "AwaitingRetry")
Pending = _state(StateType.PENDING, "Pending")
Running = _state(StateType.RUNNING, "Running")
Retrying = _state(StateType.RUNNING, "Retrying")
Completed = _state(StateType.COMPLETED, "Completed")
Cached = _state(StateType.COMPLETED, "Cached")
Failed = _state(StateType.FAILED, "Failed")
TimedOut = _state(StateType.FAILED, "TimedOut")
UpstreamFailed = _state(StateType.FAILED, "UpstreamFailed")
Crashed = _state(StateType.CRASHED, "Crashed")
Cancelling = _state(StateType.CANCELLING, "Cancelling")
Cancelled = _state(StateType.CANCELLED, "Cancelled")
Paused = _state(StateType.PAUSED, "Paused")

STATE_NAMES = [
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "Pending",
    "Running",
    "Retrying",
    "Completed",
    "Cached",
    "Failed",
    "TimedOut",
    "UpstreamFailed",
    "Crashed",
    "Cancelling",
    "Cancelled",
    "Paused",
]
