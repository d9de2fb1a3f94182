"""Crashing runs of dead workers in the store, on SQLite and PostgreSQL: only stale
heartbeats, Cancelling ends Cancelled, retries counted from the history, the worker's own
crash path, and two reapers at once writing each crash once."""

from __future__ import annotations

import threading

from fixtures.store_rows import FlowRunFactory
from legato.schemas.deployments import DeploymentSpec
from legato.states import State, StateType
from legato.store import Store

NOW = 1_900_000_000.0
TIMEOUT = 60.0


def deployment(store: Store, retries: int) -> str:
    spec = DeploymentSpec(
        flow_name="etl",
        name=f"r{retries}",
        entrypoint="flows/etl.py:etl",
        work_pool="p",
        retries=retries,
    )
    return store.deploy(spec).id


def claimed(
    store: Store,
    make_flow_run: FlowRunFactory,
    *,
    worker: str = "w1",
    beat: float = NOW - TIMEOUT - 1,
    deployment_id: str | None = None,
) -> str:
    """A run claimed by ``worker``, now Running, last heartbeat at ``beat``."""
    run_id = make_flow_run(
        state=State(StateType.SCHEDULED, "Scheduled", timestamp=NOW - 500, scheduled_time=NOW),
        work_pool="p",
        expected_start_time=NOW - 500,
        deployment_id=deployment_id,
    )
    [run] = store.claim_flow_runs("p", worker, 1, now=NOW - 400)
    assert run.id == run_id
    running = State(StateType.RUNNING, "Running", timestamp=NOW - 300)
    assert store.set_flow_run_state(run_id, running, token=run.token).allowed
    store.heartbeat([run_id], worker, now=beat)
    return run_id


def names(store: Store, run_id: str) -> list[str]:
    return [s.name for s in store.read_state_history(run_id)]


def test_only_runs_with_a_stale_heartbeat_are_crashed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    stale = claimed(store, make_flow_run, worker="w1", beat=NOW - 75)
    fresh = claimed(store, make_flow_run, worker="w2", beat=NOW - 5)
    unclaimed = make_flow_run(state=State(StateType.RUNNING, "Running"))  # a flow from code
    outcomes = store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW)
    assert [(o.flow_run_id, o.state_name) for o in outcomes] == [(stale, "Crashed")]
    run = store.read_flow_run(stale)
    assert run.state.name == "Crashed"
    assert run.state.message == "worker w1 stopped sending heartbeats (last 75 s ago)"
    assert store.read_flow_run_row(stale)["end_time"] == NOW
    assert names(store, stale) == ["Scheduled", "Pending", "Running", "Crashed"]
    assert store.read_flow_run(fresh).state.name == "Running"
    assert store.read_flow_run(unclaimed).state.name == "Running"
    assert store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW) == []  # done once


def test_a_cancelling_run_of_a_dead_worker_ends_cancelled(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = claimed(store, make_flow_run, deployment_id=deployment(store, retries=3))
    store.set_flow_run_state(run_id, State(StateType.CANCELLING, "Cancelling"))
    [outcome] = store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW)
    assert outcome.state_name == "Cancelled"
    run = store.read_flow_run(run_id)
    assert run.state.name == "Cancelled"
    assert (
        run.state.message is not None
        and "worker w1 stopped sending heartbeats" in run.state.message
    )
    assert names(store, run_id)[-2:] == ["Cancelling", "Cancelled"]


def test_a_deployment_with_retries_gets_its_crashed_run_back(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = claimed(store, make_flow_run, deployment_id=deployment(store, retries=1))
    [outcome] = store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW)
    assert (outcome.state_name, outcome.crashes, outcome.retries) == ("AwaitingRetry", 1, 1)
    row = store.read_flow_run_row(run_id)
    assert (row["state_type"], row["state_name"]) == ("SCHEDULED", "AwaitingRetry")
    assert (row["worker_name"], row["heartbeat"], row["expected_start_time"]) == (None, None, NOW)
    history = store.read_state_history(run_id)
    assert [s.name for s in history][-2:] == ["Crashed", "AwaitingRetry"]
    assert history[-1].message == (
        "crashed (worker w1 stopped sending heartbeats (last 61 s ago)); retry 1 of 1"
    )

    # another worker claims it again, under the same id; it crashes a second time: no retry left
    assert [r.id for r in store.claim_flow_runs("p", "w2", 5, now=NOW + 1)] == [run_id]
    store.set_flow_run_state(run_id, State(StateType.RUNNING, "Retrying"))
    outcome2 = store.crash_flow_run(run_id, "the flow-run process died", worker_name="w2")
    assert outcome2 is not None
    assert (outcome2.state_name, outcome2.crashes, outcome2.retries) == ("Crashed", 2, 1)
    assert store.read_flow_run(run_id).state.name == "Crashed"
    assert names(store, run_id).count("Crashed") == 2


def test_a_run_of_no_deployment_or_no_retries_stays_crashed(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    plain = claimed(store, make_flow_run)
    none_left = claimed(store, make_flow_run, deployment_id=deployment(store, retries=0))
    outcomes = store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW)
    assert sorted(o.flow_run_id for o in outcomes) == sorted([plain, none_left])
    assert {o.state_name for o in outcomes} == {"Crashed"}


def test_the_worker_crash_path_only_touches_runs_it_holds(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = claimed(store, make_flow_run, worker="w1", beat=NOW)
    assert store.crash_flow_run(run_id, "gone", worker_name="w2") is None
    assert store.crash_flow_run(run_id, "gone", stale_before=NOW - 10) is None  # it heartbeated
    outcome = store.crash_flow_run(run_id, "the process exited with code 3", worker_name="w1")
    assert outcome is not None and outcome.state_name == "Crashed"
    assert store.read_flow_run(run_id).state.message == "the process exited with code 3"
    assert store.crash_flow_run(run_id, "again", worker_name="w1") is None  # ended already
    assert names(store, run_id).count("Crashed") == 1


def test_two_reapers_at_once_crash_each_run_once(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    deployment_id = deployment(store, retries=1)
    ids = [claimed(store, make_flow_run, deployment_id=deployment_id) for _ in range(20)]
    results: list[list[str]] = []
    start = threading.Barrier(2)

    def reap() -> None:
        start.wait()
        results.append(
            [o.flow_run_id for o in store.reap_stale_flow_runs(timeout=TIMEOUT, now=NOW)]
        )

    threads = [threading.Thread(target=reap) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    reaped = [run_id for result in results for run_id in result]
    assert sorted(reaped) == sorted(ids)  # each by one reaper
    for run_id in ids:
        assert names(store, run_id)[-2:] == ["Crashed", "AwaitingRetry"]
        assert names(store, run_id).count("Crashed") == 1
