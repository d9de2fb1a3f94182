"""Attempt tokens in the store, on SQLite and PostgreSQL: a claim makes a token (only
its hash stored); a process whose run was taken back (reaped, cancelled, claimed again,
ended) is refused and nothing it proposes is written; subflows join the attempt; a claim's
answer is built before it commits."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from fixtures.store_rows import FlowRunFactory, flow_run_row
from legato.errors import RunTakenBack
from legato.schemas.deployments import DeploymentSpec
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import flow_runs

NOW = 1_900_000_000.0


def scheduled(make_flow_run: FlowRunFactory, deployment_id: str | None = None) -> str:
    return make_flow_run(
        state=State(StateType.SCHEDULED, "Scheduled", timestamp=NOW - 500, scheduled_time=NOW),
        work_pool="p",
        expected_start_time=NOW - 500,
        deployment_id=deployment_id,
    )


def stored_hash(store: Store, run_id: str) -> str | None:
    with store.engine.connect() as conn:
        query = sa.select(flow_runs.c.token_hash).where(flow_runs.c.id == run_id)
        value = conn.execute(query).scalar()
    return None if value is None else str(value)


def running(at: float) -> State:
    return State(StateType.RUNNING, "Running", timestamp=at)


def test_a_claim_hands_out_a_token_and_stores_only_its_hash(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = scheduled(make_flow_run)
    [claimed] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    assert claimed.token.startswith(f"lgr_{run_id}_")
    assert claimed.token not in repr(claimed)
    assert stored_hash(store, run_id) == hashlib.sha256(claimed.token.encode()).hexdigest()
    assert "token_hash" not in store.read_flow_run_row(run_id)
    assert store.read_flow_run(run_id).model_dump().get("token") is None
    assert store.set_flow_run_state(run_id, running(NOW + 1), token=claimed.token).allowed
    assert store.run_in_attempt(run_id, claimed.token)


def test_a_reaped_run_refuses_its_old_process_after_another_claim(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    spec = DeploymentSpec(
        flow_name="etl", name="d", entrypoint="f.py:etl", work_pool="p", retries=1
    )
    run_id = scheduled(make_flow_run, store.deploy(spec).id)
    [first] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    assert store.set_flow_run_state(run_id, running(NOW + 1), token=first.token).allowed
    store.heartbeat([run_id], "w1", now=NOW + 1)
    [outcome] = store.reap_stale_flow_runs(timeout=60, now=NOW + 100)
    assert outcome.state_name == "AwaitingRetry"
    assert stored_hash(store, run_id) is None
    # Taken back: the orphan is refused, and says so.
    refused = store.set_flow_run_state(run_id, running(NOW + 101), token=first.token)
    assert not refused.allowed and refused.taken_back
    assert "taken back from this process" in refused.reason
    [second] = store.claim_flow_runs("p", "w2", 1, now=NOW + 102)
    assert second.token != first.token
    assert store.set_flow_run_state(run_id, running(NOW + 103), token=second.token).allowed
    # The orphan's Completed lands on nothing: the second attempt's state stays.
    done = State(StateType.COMPLETED, "Completed", timestamp=NOW + 104)
    late = store.set_flow_run_state(run_id, done, token=first.token)
    assert late.taken_back
    assert store.read_flow_run(run_id).state.name == "Running"
    assert [s.name for s in store.read_state_history(run_id)][-2:] == ["Pending", "Running"]
    assert not store.run_in_attempt(run_id, first.token)
    assert store.run_in_attempt(run_id, second.token)


def test_without_a_token_a_claimed_run_cannot_be_started_but_can_be_cancelled(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = scheduled(make_flow_run)
    [claimed] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    stolen = store.set_flow_run_state(run_id, running(NOW + 1))
    assert not stolen.allowed
    assert "only that process" in stolen.reason
    assert store.read_flow_run(run_id).state.name == "Pending"
    cancelled = State(StateType.CANCELLED, "Cancelled", timestamp=NOW + 2)
    assert store.set_flow_run_state(run_id, cancelled).allowed
    assert stored_hash(store, run_id) is None
    assert store.set_flow_run_state(run_id, running(NOW + 3), token=claimed.token).taken_back
    assert store.read_flow_run(run_id).state.name == "Cancelled"


def test_a_final_state_ends_the_attempt(store: Store, make_flow_run: FlowRunFactory) -> None:
    run_id = scheduled(make_flow_run)
    [claimed] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    assert store.set_flow_run_state(run_id, running(NOW + 1), token=claimed.token).allowed
    done = State(StateType.COMPLETED, "Completed", timestamp=NOW + 2)
    assert store.set_flow_run_state(run_id, done, token=claimed.token).allowed
    assert stored_hash(store, run_id) is None
    assert not store.run_in_attempt(run_id, claimed.token)


def test_subflows_join_the_attempt_and_are_taken_back_with_it(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run_id = scheduled(make_flow_run)
    [claimed] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    assert store.set_flow_run_state(run_id, running(NOW + 1), token=claimed.token).allowed
    child = flow_run_row(parent_flow_run_id=run_id)
    store.create_flow_run(child, State(StateType.PENDING, "Pending"), token=claimed.token)
    assert store.set_flow_run_state(child["id"], running(NOW + 2), token=claimed.token).allowed
    grandchild = flow_run_row(parent_flow_run_id=child["id"])
    store.create_flow_run(grandchild, State(StateType.PENDING, "Pending"), token=claimed.token)
    assert store.run_in_attempt(grandchild["id"], claimed.token)
    # An ended subflow (its hash cleared) is found through its parent, and adopted again
    # when the attempt resumes it.
    failed = State(StateType.FAILED, "Failed", timestamp=NOW + 3)
    assert store.set_flow_run_state(child["id"], failed, token=claimed.token).allowed
    assert store.run_in_attempt(child["id"], claimed.token)
    again = store.set_flow_run_state(child["id"], running(NOW + 4), rerun=True, token=claimed.token)
    assert again.allowed
    # Another run's token opens none of it, and cannot hang a subflow under it.
    other = scheduled(make_flow_run)
    [stranger] = store.claim_flow_runs("p", "w2", 1, now=NOW)
    assert stranger.id == other
    assert store.set_flow_run_state(child["id"], failed, token=stranger.token).taken_back
    with pytest.raises(RunTakenBack):
        store.create_flow_run(
            flow_run_row(parent_flow_run_id=run_id),
            State(StateType.PENDING, "Pending"),
            token=stranger.token,
        )
    assert store.check_attempt_runs([run_id, child["id"]], claimed.token) is None
    assert store.check_attempt_runs([run_id, other], claimed.token) == other
    # The root taken back: its whole tree refuses the old token.
    store.heartbeat([run_id], "w1", now=NOW + 5)
    store.reap_stale_flow_runs(timeout=60, now=NOW + 100)
    assert stored_hash(store, child["id"]) is None
    assert stored_hash(store, grandchild["id"]) is None
    assert store.set_flow_run_state(
        grandchild["id"], running(NOW + 6), token=claimed.token
    ).taken_back
    assert store.check_attempt_runs([child["id"]], claimed.token) == child["id"]


def test_a_claim_answers_for_a_row_an_older_version_stored_with_bad_text(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    """A run whose parameters an older legato stored with a lone surrogate (escaped in
    the JSON): it is read back with the character replaced, so the claim answers, and
    the good run claimed with it runs."""
    good = scheduled(make_flow_run)
    bad = scheduled(make_flow_run)
    with store.engine.begin() as conn:
        conn.execute(
            flow_runs.update()
            .where(flow_runs.c.id == bad)
            .values(parameters={"path": "caf\udce9.csv"})  # stored escaped, as legato did
        )
    claimed = store.claim_flow_runs("p", "w1", 5, now=NOW)
    assert sorted(run.id for run in claimed) == sorted([good, bad])
    for run in claimed:
        run.model_dump_json()
    assert next(run for run in claimed if run.id == bad).parameters == {"path": "caf\ufffd.csv"}
    assert store.read_flow_run(good).state.name == "Pending"


def test_a_run_given_back_unstarted_is_held_by_nobody(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    """A worker that stops before starting a run it claimed gives it back (Scheduled, no
    token): its old claim is void, no worker holds it, the reaper leaves it alone, and
    the next claim gets it."""
    run_id = scheduled(make_flow_run)
    [first] = store.claim_flow_runs("p", "w1", 1, now=NOW)
    back = State(StateType.SCHEDULED, "Scheduled", "its worker stopped", timestamp=NOW + 1)
    assert store.set_flow_run_state(run_id, back).allowed
    row = store.read_flow_run_row(run_id)
    assert (row["worker_name"], row["heartbeat"]) == (None, None)
    assert stored_hash(store, run_id) is None
    assert store.reap_stale_flow_runs(timeout=60, now=NOW + 1000) == []
    [second] = store.claim_flow_runs("p", "w2", 1, now=NOW + 1001)
    assert second.id == run_id and second.token != first.token
    assert store.set_flow_run_state(run_id, running(NOW + 1002), token=first.token).taken_back
