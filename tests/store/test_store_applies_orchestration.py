"""The store's queries find the runs the pure decisions of :mod:`legato.orchestration`
name, on SQLite and PostgreSQL: the store selects through its indexes in SQL, and the
rule it mirrors is decided once, in the pure room."""

from __future__ import annotations

from typing import NamedTuple

from fixtures.store_rows import FlowRunFactory
from legato.orchestration.claiming import ClaimCandidate, is_claimable
from legato.orchestration.crashes import HeldRun, is_stale
from legato.orchestration.lateness import LateCandidate, is_late
from legato.states import State, StateType
from legato.store import Store

S = StateType
NOW = 1_900_000_000.0
STATES = [
    (S.SCHEDULED, "Scheduled"),
    (S.SCHEDULED, "Late"),
    (S.SCHEDULED, "AwaitingRetry"),
    (S.PENDING, "Pending"),
    (S.RUNNING, "Running"),
    (S.CANCELLING, "Cancelling"),
    (S.COMPLETED, "Completed"),
    (S.CRASHED, "Crashed"),
]
DUES = [None, NOW - 600, NOW - 60, NOW, NOW + 60]


class Run(NamedTuple):
    state_type: StateType
    state_name: str
    expected_start_time: float | None
    work_pool: str | None
    worker_name: str | None
    heartbeat: float | None


def make_runs(make_flow_run: FlowRunFactory) -> dict[str, Run]:
    """One run of each (state, due, pool, holder) combination, by id."""
    runs: dict[str, Run] = {}
    for type_, name in STATES:
        for due in DUES:
            for pool in (None, "p"):
                for worker, beat in ((None, None), ("w1", NOW - 600), ("w1", NOW - 5)):
                    run = Run(type_, name, due, pool, worker, beat)
                    columns = run._asdict()
                    del columns["state_type"], columns["state_name"]
                    state = State(type_, name, timestamp=NOW - 900)
                    runs[make_flow_run(state=state, **columns)] = run
    return runs


def test_late_runs_are_those_is_late_names(store: Store, make_flow_run: FlowRunFactory) -> None:
    runs = make_runs(make_flow_run)
    before = NOW - 30
    expected = {
        run_id
        for run_id, run in runs.items()
        if is_late(
            LateCandidate(run.state_type, run.state_name, run.expected_start_time, run.work_pool),
            before=before,
        )
    }
    assert expected
    assert store.mark_late_runs(before=before, now=NOW) == len(expected)
    marked = {run_id for run_id in runs if store.read_flow_run(run_id).state.name == "Late"}
    already_late = {run_id for run_id, run in runs.items() if run.state_name == "Late"}
    assert marked - already_late == expected


def test_stale_runs_are_those_is_stale_names(store: Store, make_flow_run: FlowRunFactory) -> None:
    runs = make_runs(make_flow_run)
    before = NOW - 60
    expected = {
        run_id
        for run_id, run in runs.items()
        if is_stale(HeldRun(run.state_type, run.worker_name, run.heartbeat), before=before)
    }
    assert expected
    assert {run.flow_run_id for run in store.read_stale_flow_runs(before)} == expected


def test_claimed_runs_are_those_is_claimable_names(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    runs = make_runs(make_flow_run)
    expected = {
        run_id
        for run_id, run in runs.items()
        if run.work_pool == "p"
        and is_claimable(
            ClaimCandidate(
                run_id, run.state_type, run.state_name, run.expected_start_time, run.worker_name
            ),
            now=NOW,
        )
    }
    assert expected
    claimed = {run.id for run in store.claim_flow_runs("p", "w9", 1000, now=NOW)}
    assert claimed == expected
