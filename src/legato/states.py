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
from typing import Any, Protocol


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


_NOW: Any = object()
"""``State(timestamp=...)`` not given: the state is made now."""


@dataclass(frozen=True, slots=True, init=False)
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

    def __init__(
        self,
        type: StateType,
        name: str,
        message: str | None = None,
        timestamp: float = _NOW,
        scheduled_time: float | None = None,
        result_key: str | None = None,
        data: Any = None,
        exception: BaseException | None = None,
        run_id: str | None = None,
    ):
        # The generated __init__ of a frozen dataclass sets each field through
        # object.__setattr__, looked up per field (2.1 us for a State); the slots' own
        # setters, bound once below, take half that. A task run makes three States.
        _set_type(self, type)
        _set_name(self, name)
        _set_message(self, message)
        _set_timestamp(self, _time() if timestamp is _NOW else timestamp)
        _set_scheduled_time(self, scheduled_time)
        _set_result_key(self, result_key)
        _set_data(self, data)
        _set_exception(self, exception)
        _set_run_id(self, run_id)

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


_time = time.time
_slots = vars(State)  # the slots' member descriptors, by field name
_set_type = _slots["type"].__set__
_set_name = _slots["name"].__set__
_set_message = _slots["message"].__set__
_set_timestamp = _slots["timestamp"].__set__
_set_scheduled_time = _slots["scheduled_time"].__set__
_set_result_key = _slots["result_key"].__set__
_set_data = _slots["data"].__set__
_set_exception = _slots["exception"].__set__
_set_run_id = _slots["run_id"].__set__

NAME_LENGTH = 32
"""The longest state name the store keeps (a state's name is its ``state_name`` column)."""


class StateConstructor(Protocol):
    """What ``Completed``, ``Failed`` and the other constructors below are."""

    __name__: str

    def __call__(
        self,
        message: str | None = None,
        *,
        name: str | None = None,
        data: Any = None,
        exception: BaseException | None = None,
        **fields: Any,
    ) -> State: ...


def _state(type_: StateType, default_name: str, doc: str) -> StateConstructor:
    """A constructor of states of ``type_``, as Prefect's ``legato.states.Failed(...)``:
    ``message`` first, then by keyword ``name`` (``Completed(name="Skipped")`` is still
    a COMPLETED state), ``data`` (the run's result when a body returns the state) and
    the other fields of :class:`State`."""

    def make(
        message: str | None = None,
        *,
        name: str | None = None,
        data: Any = None,
        exception: BaseException | None = None,
        **fields: Any,
    ) -> State:
        if name is None:
            name = default_name
        elif not isinstance(name, str) or not name.strip() or len(name) > NAME_LENGTH:
            raise ValueError(
                f"a state's name is a non-empty string of at most {NAME_LENGTH} characters, "
                f"got {name!r}"
            )
        if "type" in fields:
            raise TypeError(
                f"{default_name}() makes {type_.value} states; to make another type, call "
                "that type's constructor (Completed, Failed, Cancelled, ...)"
            )
        if exception is None and type_ in FAILURE_TYPES and isinstance(data, BaseException):
            exception = data  # Failed(data=error): the error is what result() raises
        return State(type_, name, message, data=data, exception=exception, **fields)

    make.__name__ = make.__qualname__ = default_name
    make.__doc__ = (
        f"A {default_name} state (type {type_.value}): {doc}\n\n"
        f"Called as ``{default_name}(message=None, *, name=None, data=None, ...)``; "
        f"``name`` (at most {NAME_LENGTH} characters) replaces {default_name!r} for people "
        "while the type stays. A task or flow that returns it ends in it."
    )
    return make


Scheduled = _state(StateType.SCHEDULED, "Scheduled", "waiting for its time.")
Late = _state(StateType.SCHEDULED, "Late", "its time has passed and it has not started.")
AwaitingRetry = _state(
    StateType.SCHEDULED, "AwaitingRetry", "failed, and will run again after a delay."
)
AwaitingConcurrencySlot = _state(
    StateType.SCHEDULED, "AwaitingConcurrencySlot", "waiting for a concurrency slot."
)
Pending = _state(StateType.PENDING, "Pending", "about to run.")
Running = _state(StateType.RUNNING, "Running", "its code is executing.")
Retrying = _state(StateType.RUNNING, "Retrying", "running again after a failure.")
Completed = _state(StateType.COMPLETED, "Completed", "finished with a result.")
Cached = _state(StateType.COMPLETED, "Cached", "its result was read from the cache.")
Failed = _state(StateType.FAILED, "Failed", "it did not complete (its result raises).")
TimedOut = _state(StateType.FAILED, "TimedOut", "it ran longer than its timeout.")
UpstreamFailed = _state(
    StateType.FAILED, "UpstreamFailed", "it did not run: a run it waited for did not complete."
)
Crashed = _state(StateType.CRASHED, "Crashed", "legato or its process died under it.")
Cancelling = _state(StateType.CANCELLING, "Cancelling", "a cancel is being carried out.")
Cancelled = _state(StateType.CANCELLED, "Cancelled", "stopped on request.")
Paused = _state(StateType.PAUSED, "Paused", "waiting for a person or an event to resume it.")
Suspended = _state(
    StateType.PAUSED, "Suspended", "paused, its process gone; it resumes in a new one."
)

STATE_NAMES = [
    "Scheduled",
    "Late",
    "AwaitingRetry",
    "AwaitingConcurrencySlot",
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
    "Suspended",
]
