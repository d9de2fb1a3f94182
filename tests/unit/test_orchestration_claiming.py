"""May a worker claim a run (:mod:`legato.orchestration.claiming`): its state, its time,
the pool's pause and limit, and each deployment's limit."""

from __future__ import annotations

import pytest

from legato.orchestration.claiming import (
    ClaimCandidate,
    PoolLimits,
    choose_claims,
    claim_budget,
    is_claimable,
)
from legato.states import StateType

S = StateType
NOW = 1_900_000_000.0


def run(
    run_id: str = "r",
    state_type: StateType = S.SCHEDULED,
    name: str = "Scheduled",
    due: float | None = NOW - 1,
    worker: str | None = None,
    deployment: str | None = None,
) -> ClaimCandidate:
    return ClaimCandidate(run_id, state_type, name, due, worker, deployment)


@pytest.mark.parametrize(
    ("candidate", "claimable"),
    [
        (run(), True),
        (run(due=NOW), True),  # due exactly now
        (run(due=NOW + 1), False),  # not yet
        (run(due=None), False),  # a run of no schedule and no time: never claimed
        (run(name="Late"), True),
        (run(name="AwaitingRetry"), True),  # a crashed run rescheduled for any worker
        (run(name="AwaitingRetry", worker="w1"), False),  # an in-process retry's wait
        (run(name="Late", worker="w1"), True),
        (run(state_type=S.PENDING, name="Pending"), False),
        (run(state_type=S.RUNNING, name="Running"), False),
        (run(state_type=S.PAUSED, name="Paused"), False),
        (run(state_type=S.COMPLETED, name="Completed"), False),
        (run(state_type=S.SCHEDULED, name="Paused"), False),  # an unknown Scheduled name
    ],
)
def test_is_claimable_table(candidate: ClaimCandidate, claimable: bool) -> None:
    assert is_claimable(candidate, now=NOW) is claimable


@pytest.mark.parametrize(
    ("pool", "wanted", "budget"),
    [
        (PoolLimits(), 5, 5),
        (PoolLimits(), 0, 0),
        (PoolLimits(paused=True), 5, 0),
        (PoolLimits(limit=3), 5, 3),
        (PoolLimits(limit=3, active=1), 5, 2),
        (PoolLimits(limit=3, active=3), 5, 0),
        (PoolLimits(limit=3, active=4), 5, 0),
        (PoolLimits(limit=10, active=2), 5, 5),
        (PoolLimits(paused=True, limit=10), 5, 0),
    ],
)
def test_claim_budget_table(pool: PoolLimits, wanted: int, budget: int) -> None:
    assert claim_budget(pool, wanted) == budget


@pytest.mark.parametrize(
    ("candidates", "budget", "limits", "active", "chosen"),
    [
        ([run("a"), run("b"), run("c")], 2, {}, {}, ["a", "b"]),
        ([run("a", due=NOW + 5), run("b")], 5, {}, {}, ["b"]),
        # a limited deployment gets its free slots, earliest first; others are not held up
        (
            [run("a", deployment="d"), run("b", deployment="d"), run("c", deployment="e")],
            5,
            {"d": 1},
            {},
            ["a", "c"],
        ),
        ([run("a", deployment="d"), run("b", deployment="d")], 5, {"d": 2}, {"d": 2}, []),
        ([run("a", deployment="d"), run("b", deployment="d")], 5, {"d": 3}, {"d": 1}, ["a", "b"]),
        ([run("a", deployment="d"), run("b")], 1, {}, {}, ["a"]),  # the budget first
        ([run("a", name="AwaitingRetry", worker="w"), run("b")], 5, {}, {}, ["b"]),
        ([], 5, {}, {}, []),
    ],
)
def test_choose_claims_table(
    candidates: list[ClaimCandidate],
    budget: int,
    limits: dict[str, int],
    active: dict[str, int],
    chosen: list[str],
) -> None:
    assert (
        choose_claims(
            candidates, now=NOW, budget=budget, deployment_limits=limits, deployment_active=active
        )
        == chosen
    )
