"""Is a run late: a deployment's run still Scheduled past its time plus a grace period.

A Late run keeps its Scheduled type, so workers still claim it; Late only tells people
(and later, automations) that no worker started it in time. Runs called from code
(no work pool) are never late: nobody was meant to pick them up.
"""

from __future__ import annotations

from dataclasses import dataclass

from legato.states import State, StateType

LATE_FROM_NAME = "Scheduled"
"""The one state a run becomes Late from (AwaitingRetry is a retry's own wait)."""
LATE_NAME = "Late"


@dataclass(frozen=True, slots=True)
class LateCandidate:
    """A flow run as the check for lateness sees it."""

    state_type: StateType
    state_name: str
    expected_start_time: float | None
    work_pool: str | None


def is_late(run: LateCandidate, *, before: float) -> bool:
    """Whether the run should become Late: a pool's Scheduled run due before ``before``
    (now minus the grace period)."""
    return (
        run.work_pool is not None
        and run.state_type is StateType.SCHEDULED
        and run.state_name == LATE_FROM_NAME
        and run.expected_start_time is not None
        and run.expected_start_time < before
    )


def late_state(now: float, due: float | None) -> State:
    """The Late state of a run due at ``due``, marked at ``now``."""
    return State(StateType.SCHEDULED, LATE_NAME, None, now, scheduled_time=due)
