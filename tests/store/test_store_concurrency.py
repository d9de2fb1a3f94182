"""Concurrency limits in the store, on SQLite and PostgreSQL: tag limits and their leases
(expiry, renewal, release, concurrent acquirers), work pools, and the limits of pools
and deployments where runs are claimed."""

from __future__ import annotations

import threading

import pytest

from fixtures.store_rows import FlowRunFactory
from legato.errors import ObjectNotFound
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import deployments
from legato.store.work_pools import WorkPoolExists

NOW = 1_900_000_000.0


# -- tag limits and leases ------------------------------------------------------------


def test_limits_are_created_changed_listed_and_deleted(store: Store) -> None:
    assert store.read_concurrency_limits() == []
    store.set_concurrency_limit("db", 2)
    store.set_concurrency_limit("api", 5)
    store.set_concurrency_limit("db", 3)
    assert [(r.tag, r.limit, r.active_slots) for r in store.read_concurrency_limits()] == [
        ("api", 5, 0),
        ("db", 3, 0),
    ]
    assert sorted(store.read_limited_tags()) == ["api", "db"]
    store.delete_concurrency_limit("api")
    assert store.read_limited_tags() == ["db"]
    with pytest.raises(ObjectNotFound, match="no concurrency limit for tag 'api'"):
        store.delete_concurrency_limit("api")


def test_a_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="at least 1, not 0"):
        store.set_concurrency_limit("db", 0)
    assert store.read_concurrency_limits() == []


def test_slots_are_taken_up_to_the_limit_and_given_back(store: Store) -> None:
    store.set_concurrency_limit("db", 2)
    take = store.acquire_concurrency_slots
    assert take(["db", "free"], "t1", "f", "h", 30, now=NOW).acquired
    assert take(["db"], "t2", "f", "h", 30, now=NOW).acquired
    third = take(["db"], "t3", "f", "h", 30, now=NOW)
    assert (third.acquired, third.blocked) == (False, ["db"])
    # Asking again for a held slot (a retried request) keeps it, and takes no other.
    assert take(["db"], "t1", "f", "h", 30, now=NOW).acquired
    limit = store.read_concurrency_limit("db")
    assert (limit.active_slots, sorted(limit.holders)) == (2, ["t1", "t2"])

    assert store.release_concurrency_slots(["t1"]) == 1
    assert take(["db"], "t3", "f", "h", 30, now=NOW).acquired
    assert store.release_concurrency_slots(["t1"]) == 0


def test_all_or_none_of_several_tags(store: Store) -> None:
    store.set_concurrency_limit("a", 1)
    store.set_concurrency_limit("b", 1)
    assert store.acquire_concurrency_slots(["b"], "t1", "f", "h", 30, now=NOW).acquired
    answer = store.acquire_concurrency_slots(["a", "b"], "t2", "f", "h", 30, now=NOW)
    assert (answer.acquired, answer.blocked) == (False, ["b"])
    # t2 took nothing of "a" while it waited for "b".
    assert store.acquire_concurrency_slots(["a"], "t3", "f", "h", 30, now=NOW).acquired


def test_tags_without_a_limit_need_no_slot(store: Store) -> None:
    for task_run_id in ("t1", "t2", "t3"):
        assert store.acquire_concurrency_slots(["x"], task_run_id, "f", "h", 30).acquired
    assert store.read_concurrency_limits() == []


def test_an_expired_lease_frees_its_slot(store: Store) -> None:
    """A holder that died never renews: past its expiry its slot is someone else's."""
    store.set_concurrency_limit("db", 1)
    assert store.acquire_concurrency_slots(["db"], "dead", "f", "h", 10, now=NOW).acquired
    assert not store.acquire_concurrency_slots(["db"], "t2", "f", "h", 10, now=NOW + 9).acquired
    assert store.read_concurrency_limits(now=NOW + 9)[0].active_slots == 1
    assert store.read_concurrency_limits(now=NOW + 10)[0].active_slots == 0
    assert store.acquire_concurrency_slots(["db"], "t2", "f", "h", 10, now=NOW + 10).acquired
    # The dead holder's lease is gone: renewing it says so.
    assert store.renew_concurrency_slots(["dead", "t2"], 10, now=NOW + 11) == ["t2"]


def test_renewal_keeps_a_slot_past_its_first_expiry(store: Store) -> None:
    store.set_concurrency_limit("db", 1)
    assert store.acquire_concurrency_slots(["db"], "t1", "f", "h", 10, now=NOW).acquired
    assert store.renew_concurrency_slots(["t1"], 10, now=NOW + 8) == ["t1"]
    assert not store.acquire_concurrency_slots(["db"], "t2", "f", "h", 10, now=NOW + 15).acquired
    assert store.acquire_concurrency_slots(["db"], "t2", "f", "h", 10, now=NOW + 18).acquired


def test_deleting_a_limit_drops_its_leases(store: Store) -> None:
    store.set_concurrency_limit("db", 1)
    assert store.acquire_concurrency_slots(["db"], "t1", "f", "h", 30).acquired
    store.delete_concurrency_limit("db")
    store.set_concurrency_limit("db", 1)
    assert store.acquire_concurrency_slots(["db"], "t2", "f", "h", 30).acquired


def test_concurrent_acquirers_never_hold_more_than_the_limit(store: Store) -> None:
    """Eight threads, each taking a slot, holding it briefly and giving it back, many
    times; every holder records itself, and no moment sees more than the limit."""
    store.set_concurrency_limit("db", 3)
    lock = threading.Lock()
    holding: set[str] = set()
    most = 0
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        nonlocal most
        try:
            for round_ in range(6):
                task_run_id = f"t{index}-{round_}"
                while not store.acquire_concurrency_slots(
                    ["db"], task_run_id, "f", f"h{index}", 60
                ).acquired:
                    pass
                with lock:
                    holding.add(task_run_id)
                    most = max(most, len(holding))
                with lock:
                    holding.discard(task_run_id)
                store.release_concurrency_slots([task_run_id])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert 1 <= most <= 3
    assert store.read_concurrency_limit("db").active_slots == 0


# -- work pools -----------------------------------------------------------------------


def test_work_pools_are_created_limited_paused_and_listed(store: Store) -> None:
    created = store.create_work_pool("p", 2)
    assert (created.name, created.concurrency_limit, created.paused) == ("p", 2, False)
    with pytest.raises(WorkPoolExists, match="work pool 'p' already exists"):
        store.create_work_pool("p")
    assert store.set_work_pool_limit("p", None).concurrency_limit is None
    assert store.set_work_pool_paused("p", True).paused
    with pytest.raises(ObjectNotFound, match="legato work-pool create nope"):
        store.set_work_pool_limit("nope", 3)
    with pytest.raises(ValueError, match="at least 1"):
        store.set_work_pool_limit("p", 0)
    assert [(p.name, p.paused, p.active_runs) for p in store.read_work_pools()] == [("p", True, 0)]


# -- limits where runs are claimed ----------------------------------------------------


def scheduled() -> State:
    return State(StateType.SCHEDULED, "Scheduled", timestamp=NOW - 100, scheduled_time=NOW)


def add_deployment(store: Store, deployment_id: str, limit: int | None) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            deployments.insert().values(
                id=deployment_id,
                flow_name="f",
                name=deployment_id,
                entrypoint="flows.py:f",
                work_pool="p",
                parameters={},
                tags=[],
                concurrency_limit=limit,
                retries=0,
                catchup=False,
                paused=False,
                created=NOW,
                updated=NOW,
            )
        )


def due_runs(make_flow_run: FlowRunFactory, count: int, **columns: object) -> list[str]:
    return [
        make_flow_run(
            state=scheduled(), work_pool="p", expected_start_time=NOW - 100 + i, **columns
        )
        for i in range(count)
    ]


def end(store: Store, run_id: str, kind: StateType, name: str) -> None:
    store.set_flow_run_state(run_id, State(kind, name, timestamp=NOW))


def test_a_deployment_limit_holds_its_runs_back_but_not_others(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    add_deployment(store, "00000000-0000-0000-0000-00000000000a", 1)
    limited = due_runs(make_flow_run, 3, deployment_id="00000000-0000-0000-0000-00000000000a")
    free = due_runs(make_flow_run, 2)
    first = [r.id for r in store.claim_flow_runs("p", "w", 10, now=NOW)]
    assert first == [limited[0], *free]
    assert store.claim_flow_runs("p", "w", 10, now=NOW) == []
    assert store.read_flow_run(limited[1]).state.name == "Scheduled"

    end(store, limited[0], StateType.RUNNING, "Running")
    assert store.claim_flow_runs("p", "w", 10, now=NOW) == []
    # A crash ends the run, and its slot with it.
    end(store, limited[0], StateType.CRASHED, "Crashed")
    assert [r.id for r in store.claim_flow_runs("p", "w", 10, now=NOW)] == [limited[1]]
    end(store, limited[1], StateType.COMPLETED, "Completed")
    assert [r.id for r in store.claim_flow_runs("p", "w", 10, now=NOW)] == [limited[2]]


def test_a_pool_limit_counts_every_active_run_of_the_pool(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    store.create_work_pool("p", 2)
    runs = due_runs(make_flow_run, 5)
    assert [r.id for r in store.claim_flow_runs("p", "w1", 10, now=NOW)] == runs[:2]
    assert store.claim_flow_runs("p", "w2", 10, now=NOW) == []
    end(store, runs[0], StateType.RUNNING, "Running")
    end(store, runs[0], StateType.CANCELLING, "Cancelling")
    assert store.claim_flow_runs("p", "w2", 10, now=NOW) == []
    end(store, runs[0], StateType.CANCELLED, "Cancelled")
    assert [r.id for r in store.claim_flow_runs("p", "w2", 10, now=NOW)] == [runs[2]]
    store.set_work_pool_limit("p", None)
    assert [r.id for r in store.claim_flow_runs("p", "w2", 10, now=NOW)] == runs[3:]


def test_concurrent_claimers_respect_a_deployment_limit(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    add_deployment(store, "00000000-0000-0000-0000-00000000000b", 2)
    due_runs(make_flow_run, 12, deployment_id="00000000-0000-0000-0000-00000000000b")
    claimed: list[str] = []
    lock = threading.Lock()

    def claim(name: str) -> None:
        for _ in range(5):
            got = store.claim_flow_runs("p", name, 3, now=NOW)
            with lock:
                claimed.extend(r.id for r in got)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 2 and len(set(claimed)) == 2
