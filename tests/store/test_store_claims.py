"""Workers' claims in the store, on SQLite and PostgreSQL: due only, earliest first, the
limit, the pool's paused flag, heartbeats, and never one run to two claimers."""

from __future__ import annotations

import threading
import time

from fixtures.store_rows import FlowRunFactory
from legato.states import State, StateType
from legato.store import Store
from legato.store.tables import work_pools

NOW = 1_900_000_000.0


def scheduled(name: str = "Scheduled") -> State:
    return State(StateType.SCHEDULED, name, timestamp=NOW - 100, scheduled_time=NOW)


def make_due(make_flow_run: FlowRunFactory, due: float, pool: str = "p", **kw: object) -> str:
    return make_flow_run(
        state=kw.pop("state", None) or scheduled(),
        work_pool=pool,
        expected_start_time=due,
        **kw,
    )


def test_claims_due_runs_of_the_pool_earliest_first(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    later = make_due(make_flow_run, NOW - 10)
    earliest = make_due(make_flow_run, NOW - 30)
    late = make_due(make_flow_run, NOW - 20, state=scheduled("Late"))
    make_due(make_flow_run, NOW + 60)  # not due yet
    make_due(make_flow_run, NOW - 40, pool="other")
    # an in-process retry, still held by the worker whose process sleeps before it
    make_due(make_flow_run, NOW - 50, state=scheduled("AwaitingRetry"), worker_name="w0")
    make_due(make_flow_run, NOW - 50, state=State(StateType.RUNNING, "Running"))

    first = store.claim_flow_runs("p", "w1", 2, now=NOW)
    assert [r.id for r in first] == [earliest, late]
    assert all(r.state.name == "Pending" for r in first)
    row = store.read_flow_run_row(earliest)
    assert (row["worker_name"], row["heartbeat"]) == ("w1", NOW)
    history = store.read_state_history(late)
    assert [s.name for s in history] == ["Late", "Pending"]
    assert history[-1].message == "claimed by worker w1"

    assert [r.id for r in store.claim_flow_runs("p", "w2", 5, now=NOW)] == [later]
    assert store.claim_flow_runs("p", "w2", 5, now=NOW) == []


def test_a_paused_pool_gives_nothing(store: Store, make_flow_run: FlowRunFactory) -> None:
    run_id = make_due(make_flow_run, NOW - 1)
    with store.engine.begin() as conn:
        conn.execute(work_pools.insert().values(name="p", paused=True, created=NOW))
    assert store.claim_flow_runs("p", "w", 5, now=NOW) == []
    with store.engine.begin() as conn:
        conn.execute(work_pools.update().values(paused=False))
    assert [r.id for r in store.claim_flow_runs("p", "w", 5, now=NOW)] == [run_id]


def test_heartbeat_touches_only_the_workers_own_runs(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    mine, theirs = (make_due(make_flow_run, NOW - i) for i in (2, 1))
    store.claim_flow_runs("p", "w1", 1, now=NOW)
    store.claim_flow_runs("p", "w2", 1, now=NOW)
    store.set_flow_run_state(mine, State(StateType.CANCELLING, "Cancelling"))
    states = store.heartbeat([mine, theirs, "nope"], "w1", now=NOW + 5)
    assert states == {mine: "CANCELLING"}
    assert store.read_flow_run_row(mine)["heartbeat"] == NOW + 5
    assert store.read_flow_run_row(theirs)["heartbeat"] == NOW
    assert store.heartbeat([], "w1") == {}


def test_concurrent_claimers_get_disjoint_runs(store: Store, make_flow_run: FlowRunFactory) -> None:
    ids = {make_due(make_flow_run, NOW - i) for i in range(60)}
    stores = [Store(store.url.render_as_string(hide_password=False), lock_timeout=30)]
    stores.append(Store(store.url.render_as_string(hide_password=False), lock_timeout=30))
    claimed: dict[int, list[str]] = {i: [] for i in range(4)}
    start = threading.Barrier(4)

    def claim(i: int) -> None:
        own = stores[i % 2]
        start.wait()
        while True:
            got = own.claim_flow_runs("p", f"w{i}", 3, now=time.time() + NOW)
            if not got:
                return
            claimed[i].extend(r.id for r in got)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        for opened in stores:
            opened.close()
    every = [run_id for runs in claimed.values() for run_id in runs]
    assert len(every) == len(set(every)) == len(ids)
    assert set(every) == ids
    for i, runs in claimed.items():
        assert {store.read_flow_run_row(r)["worker_name"] for r in runs} <= {f"w{i}"}
