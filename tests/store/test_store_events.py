"""Events in a real store, on SQLite and PostgreSQL: stored once, read back by every
filter a page at a time with nothing skipped, pruned, and state changes made events in
the order they happened."""

from __future__ import annotations

import time
import uuid

import pytest

from fixtures.store_rows import FlowRunFactory
from legato.schemas.events import EventFilter, EventIn
from legato.states import State, StateType
from legato.store import Store


def _event(name: str, resource_id: str, **more: object) -> EventIn:
    return EventIn.model_validate(
        {"event": name, "resource": {"legato.resource.id": resource_id}, **more}
    )


def _read_all(store: Store, filt: EventFilter, page: int = 3) -> list[str]:
    """Every event ``filt`` keeps, a page at a time through the cursor."""
    names: list[str] = []
    while True:
        found, reached, more = store.events.read(filt, limit=page)
        names += [f"{record.event}@{record.resource_id}" for record in found]
        if not more:
            return names
        update = {"before": reached} if filt.newest_first else {"after": reached}
        filt = filt.model_copy(update=update)


def test_an_event_sent_twice_is_stored_once(store: Store) -> None:
    event_id = uuid.uuid4()
    sent = _event("acme.refund.reviewed", "acme.refund.1", id=str(event_id), payload={"n": 1})
    assert store.events.emit([sent]) == (1, 0)
    assert store.events.emit([sent, sent]) == (0, 2)
    found, _, _ = store.events.read(EventFilter(), limit=10)
    assert [(r.id, r.event, r.payload) for r in found] == [
        (event_id, "acme.refund.reviewed", {"n": 1})
    ]


def test_filters_keep_what_they_name_and_pages_skip_nothing(store: Store) -> None:
    related = [{"legato.resource.id": "acme.customer.7", "legato.resource.role": "customer"}]
    batch = [
        _event("acme.refund.reviewed", "acme.refund.1", related=related),
        _event("acme.refund.paid", "acme.refund.1"),
        _event("acme.order.placed", "acme.order.5"),
        _event("acme.refund.reviewed", "acme.refund.2"),
        _event("ACME.REFUND.LOUD", "acme.refund.3"),
    ] + [_event("acme.noise.tick", f"acme.noise.{n}") for n in range(10)]
    store.events.emit(batch)
    assert _read_all(store, EventFilter(names=("acme.refund.*",))) == [
        "acme.refund.reviewed@acme.refund.1",
        "acme.refund.paid@acme.refund.1",
        "acme.refund.reviewed@acme.refund.2",
    ]  # SQLite's LIKE ignores case; the exact check does not
    assert _read_all(store, EventFilter(names=("*.reviewed", "acme.order.placed"))) == [
        "acme.refund.reviewed@acme.refund.1",
        "acme.order.placed@acme.order.5",
        "acme.refund.reviewed@acme.refund.2",
    ]
    assert _read_all(store, EventFilter(resources=("acme.refund.1",))) == [
        "acme.refund.reviewed@acme.refund.1",
        "acme.refund.paid@acme.refund.1",
    ]
    assert _read_all(store, EventFilter(related=("acme.customer.*",))) == [
        "acme.refund.reviewed@acme.refund.1"
    ]
    assert _read_all(store, EventFilter(resources=("legato.resource.id=acme.order.*",))) == [
        "acme.order.placed@acme.order.5"
    ]
    everything = _read_all(store, EventFilter(), page=4)
    assert len(everything) == len(batch) == len(set(everything))
    newest_first = _read_all(store, EventFilter(newest_first=True), page=4)
    assert newest_first == list(reversed(everything))


def test_a_time_range_keeps_events_by_when_they_occurred(store: Store) -> None:
    now = time.time()
    store.events.emit(
        [
            _event("acme.old", "acme.x", occurred="2020-01-01T00:00:00Z"),
            _event("acme.new", "acme.x"),
        ]
    )
    assert _read_all(store, EventFilter(since=now - 60)) == ["acme.new@acme.x"]
    assert _read_all(store, EventFilter(until=now - 60)) == ["acme.old@acme.x"]


def test_pruning_deletes_old_events_and_their_related_rows(store: Store) -> None:
    related = [{"legato.resource.id": "acme.customer.7", "legato.resource.role": "customer"}]
    store.events.emit(
        [
            _event("acme.old", f"acme.x.{n}", occurred="2020-01-01T00:00:00Z", related=related)
            for n in range(7)
        ]
        + [_event("acme.new", "acme.x", related=related)]
    )
    assert store.events.prune(before=time.time() - 3600, batch=3) == 7
    assert _read_all(store, EventFilter()) == ["acme.new@acme.x"]
    assert _read_all(store, EventFilter(related=("acme.customer.7",))) == ["acme.new@acme.x"]


def test_state_changes_become_events_in_the_order_they_happened(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    first = make_flow_run(name="first-run")
    second = make_flow_run(name="second-run")
    for run in (first, second):
        store.set_flow_run_state(run, State(StateType.RUNNING, "Running"))
    store.set_flow_run_state(first, State(StateType.FAILED, "Failed", message="boom"))
    store.set_flow_run_state(second, State(StateType.COMPLETED, "Completed"))
    found, _, _ = store.events.read(EventFilter(resources=(f"legato.flow-run.{first}",)), limit=10)
    assert [r.event for r in found] == [
        "legato.flow-run.Pending",
        "legato.flow-run.Running",
        "legato.flow-run.Failed",
    ]
    failed = found[-1]
    assert failed.resource["legato.resource.name"] == "first-run"
    assert failed.resource["legato.state-message"] == "boom"
    assert failed.payload["intended"] == {"from": "RUNNING", "to": "FAILED"}
    assert {"legato.resource.id": "legato.tag.nightly", "legato.resource.role": "tag"} in (
        failed.related
    )
    assert any(r["legato.resource.role"] == "flow" for r in failed.related)


def test_state_events_and_stored_events_merge_by_time_and_page_without_a_gap(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    run = make_flow_run(name="merged")
    store.events.emit([_event("acme.between", "acme.x")])
    store.set_flow_run_state(run, State(StateType.RUNNING, "Running"))
    store.events.emit([_event("acme.after", "acme.x")])
    store.set_flow_run_state(run, State(StateType.COMPLETED, "Completed"))
    expected = [
        f"legato.flow-run.Pending@legato.flow-run.{run}",
        "acme.between@acme.x",
        f"legato.flow-run.Running@legato.flow-run.{run}",
        "acme.after@acme.x",
        f"legato.flow-run.Completed@legato.flow-run.{run}",
    ]
    for page in (1, 2, 10):
        assert _read_all(store, EventFilter(), page=page) == expected
        assert _read_all(store, EventFilter(newest_first=True), page=page) == expected[::-1]
    # A related filter the SQL narrows (the flow run's deployment: none here).
    assert _read_all(store, EventFilter(related=("legato.deployment.nope",))) == []
    # A name no state event can have reads no state history at all.
    assert _read_all(store, EventFilter(names=("acme.*",))) == [
        "acme.between@acme.x",
        "acme.after@acme.x",
    ]


@pytest.mark.parametrize("limit", [1, 1000])
def test_reads_answer_a_cursor_only_when_more_may_follow(store: Store, limit: int) -> None:
    store.events.emit([_event("acme.a", "acme.x"), _event("acme.b", "acme.x")])
    found, reached, more = store.events.read(EventFilter(), limit=limit)
    assert more is (limit == 1)
    assert reached.text() == found[-1].cursor


def test_deployment_and_work_pool_changes_are_events_of_their_resources(store: Store) -> None:
    from legato.schemas.deployments import DeploymentSpec

    spec = DeploymentSpec(
        flow_name="etl", name="nightly", entrypoint="flows/etl.py:etl", work_pool="local"
    )
    made = store.deploy(spec)
    store.deploy(spec)
    store.set_deployment_paused(made.id, True)
    store.set_deployment_paused(made.id, False)
    store.delete_deployment(made.id)
    found, _, _ = store.events.read(EventFilter(names=("legato.deployment.*",)), limit=10)
    assert [r.event for r in found] == [
        "legato.deployment.created",
        "legato.deployment.updated",
        "legato.deployment.paused",
        "legato.deployment.resumed",
        "legato.deployment.deleted",
    ]
    assert {r.resource_id for r in found} == {f"legato.deployment.{made.id}"}
    assert found[0].resource["legato.resource.name"] == "etl/nightly"
    assert found[0].related[0]["legato.resource.id"] == "legato.work-pool.local"
    store.create_work_pool("gpu", 2)
    store.set_work_pool_limit("gpu", 4)
    store.set_work_pool_paused("gpu", True)
    pool, _, _ = store.events.read(EventFilter(resources=("legato.work-pool.gpu",)), limit=10)
    assert [(r.event, r.payload) for r in pool] == [
        ("legato.work-pool.created", {"concurrency_limit": 2}),
        ("legato.work-pool.updated", {"concurrency_limit": 4}),
        ("legato.work-pool.paused", {}),
    ]
