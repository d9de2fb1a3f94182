"""Runs whose worker or process died: is the run stale, is it still held, and what a
crash makes of it (Crashed, Cancelled, or rescheduled to retry).

A worker heartbeats the runs it holds; a run whose worker has been quiet for the
heartbeat timeout is stale, and the reaper crashes it - unless, by the time its row is
locked, it moved on (finished, heartbeated, another worker holds it), which
:func:`still_held` tells. A crashed run of a deployment with ``retries`` goes back to
Scheduled (AwaitingRetry, due now, held by no worker) while it has crashed no more
than ``retries`` times (:func:`should_retry_crash`); a run that was Cancelling ends
Cancelled instead (:func:`plan_crash`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from legato.states import ACTIVE_TYPES, State, StateType

HELD_TYPES = frozenset({*ACTIVE_TYPES, StateType.SCHEDULED})
"""States in which a run may be held by a worker: starting, running, being cancelled,
or waiting inside its process for an in-process retry (AwaitingRetry, still held)."""


@dataclass(frozen=True, slots=True)
class HeldRun:
    """A flow run as the reaper sees it."""

    state_type: StateType
    worker_name: str | None
    heartbeat: float | None


def stale_before(now: float, timeout: float) -> float:
    """Heartbeats older than this are a dead worker's."""
    return now - timeout


def is_held(run: HeldRun) -> bool:
    """Whether the run is (about to be) executing for someone: active, or Scheduled
    while a worker holds it (an in-process retry)."""
    if run.state_type in ACTIVE_TYPES:
        return True
    return run.state_type is StateType.SCHEDULED and run.worker_name is not None


def is_stale(run: HeldRun, *, before: float) -> bool:
    """Whether a worker holds the run and has not heartbeated since ``before``."""
    return (
        run.worker_name is not None
        and run.state_type in HELD_TYPES
        and run.heartbeat is not None
        and run.heartbeat < before
    )


def still_held(
    run: HeldRun, *, worker_name: str | None = None, stale_before: float | None = None
) -> bool:
    """Whether a crash may still be written on the locked ``run``: it is held (see
    :func:`is_held`), by ``worker_name`` when given, and its heartbeat is older than
    ``stale_before`` when given."""
    if not is_held(run):
        return False
    if worker_name is not None and run.worker_name != worker_name:
        return False
    return not (
        stale_before is not None and (run.heartbeat is None or run.heartbeat >= stale_before)
    )


def should_retry_crash(crashes: int, retries: int) -> bool:
    """Whether a run that has crashed ``crashes`` times (this one included) runs again
    under its deployment's ``retries``."""
    return crashes <= retries


@dataclass(frozen=True, slots=True)
class CrashStep:
    """One state to write, with other columns of the run set in the same write."""

    state: State
    fields: Mapping[str, float | None] = field(default_factory=dict)
    rerun: bool = False
    """The move takes an ended run back (Crashed to AwaitingRetry)."""


@dataclass(frozen=True, slots=True)
class CrashPlan:
    """What a crash makes of a run: the states to write, in order, and the outcome."""

    steps: tuple[CrashStep, ...]
    outcome: str
    """``Crashed``, ``AwaitingRetry`` (crashed, and rescheduled) or ``Cancelled``."""
    crashes: int
    """How many times the run has crashed, this one included (0 when it was Cancelled)."""
    retries: int
    message: str
    """The message of the last state written."""


def plan_crash(
    current: StateType, message: str, *, crashes_before: int, retries: int, now: float
) -> CrashPlan:
    """The crash of a run in ``current`` that crashed ``crashes_before`` times already,
    under a deployment's ``retries`` (0 for a run of no deployment)."""
    ended = {"end_time": now}
    if current is StateType.CANCELLING:
        cancelled = State(StateType.CANCELLED, "Cancelled", f"cancelled: {message}", now)
        return CrashPlan((CrashStep(cancelled, ended),), "Cancelled", 0, 0, cancelled.message or "")
    crashed = CrashStep(State(StateType.CRASHED, "Crashed", message, now), ended)
    crashes = crashes_before + 1
    if not should_retry_crash(crashes, retries):
        return CrashPlan((crashed,), "Crashed", crashes, retries, message)
    retry_message = f"crashed ({message}); retry {crashes} of {retries}"
    retry = State(StateType.SCHEDULED, "AwaitingRetry", retry_message, now, scheduled_time=now)
    again = {"expected_start_time": now, "worker_name": None, "heartbeat": None, "end_time": None}
    return CrashPlan(
        (crashed, CrashStep(retry, again, rerun=True)),
        "AwaitingRetry",
        crashes,
        retries,
        retry_message,
    )
