"""The scheduler's store calls on SQLite and PostgreSQL: bulk slot inserts that never
duplicate, what counts as schedulable, Late marking, and backfill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from legato.errors import ScheduleError
from legato.schedules.planning import slot_key
from legato.schemas.deployments import DeploymentRunRequest, DeploymentSchedule, DeploymentSpec
from legato.store import Store
from legato.store.scheduling import SlotRun

pytestmark = pytest.mark.slow

NOW = datetime.now(UTC).replace(microsecond=0)


def deploy(store: Store, name: str = "nightly", **fields: object) -> str:
    spec = DeploymentSpec(
        flow_name="etl",
        name=name,
        entrypoint="flows.py:etl",
        parameters={"n": 3},
        tags=["nightly", "etl"],
        schedules=[DeploymentSchedule(schedule={"kind": "interval", "every": 60})],
        **fields,  # type: ignore[arg-type]
    )
    return store.deploy(spec).id


def slots(store: Store, deployment_id: str, count: int, start: datetime) -> list[SlotRun]:
    schedule_id = store.read_deployment(deployment_id).schedules[0].id
    times = [start + timedelta(minutes=k) for k in range(count)]
    return [
        SlotRun(schedule_id, t.timestamp(), slot_key(deployment_id, schedule_id, t)) for t in times
    ]


def test_slots_insert_once_however_often_they_are_inserted(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    wanted = slots(store, deployment_id, 5, NOW + timedelta(minutes=1))
    assert len(store.insert_scheduled_runs(deployment, wanted)) == 5
    assert store.insert_scheduled_runs(deployment, wanted) == []
    assert (
        len(
            store.insert_scheduled_runs(
                deployment, slots(store, deployment_id, 7, NOW + timedelta(minutes=1))
            )
        )
        == 2
    )
    runs = store.read_flow_runs(flow_name="etl", limit=100)
    assert len(runs) == 7
    assert len({run.expected_start_time for run in runs}) == 7


def test_scheduled_runs_look_like_runs_asked_for_by_hand(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    (made,) = store.insert_scheduled_runs(
        deployment, slots(store, deployment_id, 1, NOW + timedelta(minutes=1))
    )
    by_hand = store.create_deployment_run(deployment_id, DeploymentRunRequest())
    scheduled = store.read_flow_run(made)
    for field in ("flow_name", "parameters", "tags", "entrypoint", "deployment_id", "work_pool"):
        assert getattr(scheduled, field) == getattr(by_hand, field), field
    assert scheduled.state.type == by_hand.state.type
    assert scheduled.state.name == "Scheduled"
    assert scheduled.expected_start_time == NOW + timedelta(minutes=1)
    history = store.read_state_history(made)
    assert [(s.type.value, s.name) for s in history] == [("SCHEDULED", "Scheduled")]
    tagged = store.read_flow_runs(tags=["nightly"], limit=100)
    assert made in {run.id for run in tagged}


def test_ten_thousand_slots_insert_in_one_call(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    wanted = slots(store, deployment_id, 10_000, NOW - timedelta(days=7))
    assert len(store.insert_scheduled_runs(deployment, wanted)) == 10_000
    assert len(store.insert_scheduled_runs(deployment, wanted)) == 0
    with store.engine.connect() as conn:
        counts = [
            conn.exec_driver_sql(sql).scalar()
            for sql in (
                "SELECT count(*) FROM flow_runs",
                "SELECT count(*) FROM state_history",
                "SELECT count(*) FROM flow_run_tags",
            )
        ]
    assert counts == [10_000, 10_000, 20_000]


def test_schedulable_leaves_out_paused_deployments_and_schedules(store: Store) -> None:
    active = deploy(store, "active")
    paused = deploy(store, "paused")
    store.set_deployment_paused(paused, True)
    spec = DeploymentSpec(
        flow_name="etl",
        name="schedule-paused",
        entrypoint="flows.py:etl",
        schedules=[DeploymentSchedule(schedule={"kind": "interval", "every": 60}, active=False)],
    )
    store.deploy(spec)
    found = store.read_schedulable()
    assert [item.deployment.id for item in found] == [active]


def test_last_slot_is_the_latest_made(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    assert store.read_schedulable()[0].schedules[0].last_slot is None
    store.insert_scheduled_runs(deployment, slots(store, deployment_id, 3, NOW))
    assert store.read_schedulable()[0].schedules[0].last_slot == NOW + timedelta(minutes=2)


def test_paused_deployment_gets_no_scheduled_runs(store: Store) -> None:
    deployment_id = deploy(store)
    wanted = slots(store, deployment_id, 2, NOW)
    store.set_deployment_paused(deployment_id, True)
    assert store.insert_scheduled_runs(store.read_deployment(deployment_id), wanted) == []


def test_slots_of_a_replaced_schedule_are_dropped(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    stale = slots(store, deployment_id, 2, NOW)
    spec = DeploymentSpec(
        flow_name="etl",
        name="nightly",
        entrypoint="flows.py:etl",
        schedules=[DeploymentSchedule(schedule={"kind": "cron", "expr": "0 9 * * *"})],
    )
    store.deploy(spec)
    assert store.insert_scheduled_runs(deployment, stale) == []


def test_overdue_scheduled_runs_become_late_once(store: Store) -> None:
    deployment_id = deploy(store)
    deployment = store.read_deployment(deployment_id)
    made = store.insert_scheduled_runs(
        deployment, slots(store, deployment_id, 4, NOW - timedelta(minutes=2))
    )
    # slots at -2, -1, 0, +1 minutes; grace 30 s: the first two are late
    before = NOW.timestamp() - 30
    assert store.mark_late_runs(before=before) == 2
    assert store.mark_late_runs(before=before) == 0
    states = [store.read_flow_run(run_id).state for run_id in made]
    assert [(s.type.value, s.name) for s in states] == [
        ("SCHEDULED", "Late"),
        ("SCHEDULED", "Late"),
        ("SCHEDULED", "Scheduled"),
        ("SCHEDULED", "Scheduled"),
    ]
    history = store.read_state_history(made[0])
    assert [s.name for s in history] == ["Scheduled", "Late"]


def test_backfill_makes_each_slot_with_its_time_and_skips_made_ones(store: Store) -> None:
    deployment_id = deploy(store)
    start = NOW.replace(second=0) - timedelta(hours=2)
    result = store.backfill_deployment(deployment_id, start, start + timedelta(minutes=10))
    assert (result.slots, result.created) == (10, 10)
    expected = sorted(store.read_flow_run(run_id).expected_start_time for run_id in result.runs)
    assert expected == [start + timedelta(minutes=k) for k in range(10)]
    again = store.backfill_deployment(deployment_id, start, start + timedelta(minutes=12))
    assert (again.slots, again.created) == (12, 2)


def test_backfill_works_on_a_paused_deployment(store: Store) -> None:
    deployment_id = deploy(store)
    store.set_deployment_paused(deployment_id, True)
    start = NOW.replace(second=0) - timedelta(hours=1)
    result = store.backfill_deployment(deployment_id, start, start + timedelta(minutes=3))
    assert result.created == 3


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (NOW - timedelta(hours=1), NOW - timedelta(hours=2), "is not before end"),
        (NOW - timedelta(days=30), NOW - timedelta(days=1), "more than 10000 slots"),
        (NOW - timedelta(hours=1), NOW + timedelta(days=1), "is in the future"),
    ],
)
def test_backfill_refuses_bad_ranges(
    store: Store, start: datetime, end: datetime, message: str
) -> None:
    deployment_id = deploy(store)
    with pytest.raises(ScheduleError, match=message):
        store.backfill_deployment(deployment_id, start, end)
    assert store.read_flow_runs(limit=10) == []


def test_backfill_of_a_deployment_without_schedules_says_so(store: Store) -> None:
    spec = DeploymentSpec(flow_name="etl", name="manual", entrypoint="flows.py:etl")
    deployment_id = store.deploy(spec).id
    with pytest.raises(ScheduleError, match="has no active schedule"):
        store.backfill_deployment(deployment_id, NOW - timedelta(hours=1), NOW)
