"""Is a run late (:mod:`legato.orchestration.lateness`), and its Late state."""

from __future__ import annotations

import pytest

from legato.orchestration.lateness import LateCandidate, is_late, late_state
from legato.states import StateType

S = StateType
BEFORE = 1_900_000_000.0


def run(
    state_type: StateType = S.SCHEDULED,
    name: str = "Scheduled",
    due: float | None = BEFORE - 1,
    pool: str | None = "p",
) -> LateCandidate:
    return LateCandidate(state_type, name, due, pool)


@pytest.mark.parametrize(
    ("candidate", "late"),
    [
        (run(), True),
        (run(due=BEFORE), False),  # due at the cut-off: still within the grace period
        (run(due=BEFORE + 60), False),
        (run(due=None), False),
        (run(pool=None), False),  # a run called from code: no worker was meant to start it
        (run(name="Late"), False),  # already Late
        (run(name="AwaitingRetry"), False),  # a retry's own wait
        (run(state_type=S.PENDING, name="Pending"), False),  # claimed meanwhile
        (run(state_type=S.RUNNING, name="Running"), False),
        (run(state_type=S.COMPLETED, name="Completed"), False),
    ],
)
def test_is_late_table(candidate: LateCandidate, late: bool) -> None:
    assert is_late(candidate, before=BEFORE) is late


def test_late_state_keeps_the_scheduled_type_and_the_due_time() -> None:
    state = late_state(BEFORE + 5, BEFORE - 30)
    assert (state.type, state.name, state.message) == (S.SCHEDULED, "Late", None)
    assert (state.timestamp, state.scheduled_time) == (BEFORE + 5, BEFORE - 30)
