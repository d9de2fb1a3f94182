"""Deployments in the store, on SQLite and PostgreSQL: upsert, schedules, runs, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from legato.errors import ObjectNotFound, ParameterValidationError, ScheduleError
from legato.schemas.deployments import DeploymentRunRequest, DeploymentSchedule, DeploymentSpec
from legato.states import State, StateType
from legato.store import Store

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"type": "integer"}, "label": {"type": "string", "default": "x"}},
    "required": ["n"],
    "additionalProperties": False,
}


def spec(**overrides: Any) -> DeploymentSpec:
    values: dict[str, Any] = {
        "flow_name": "etl",
        "name": "nightly",
        "entrypoint": "flows/etl.py:etl",
        "work_pool": "local",
        "parameters": {"label": "nightly"},
        "parameter_schema": SCHEMA,
        "tags": ["prod"],
        "schedules": [DeploymentSchedule(schedule={"kind": "cron", "expr": "0 2 * * *"})],
    }
    values.update(overrides)
    return DeploymentSpec(**values)


def test_deploy_creates_then_updates_in_place(store: Store) -> None:
    first = store.deploy(spec())
    assert first.full_name == "etl/nightly"
    assert first.schedules[0].schedule["expr"] == "0 2 * * *"
    assert first.schedules[0].schedule["timezone"] == "UTC"
    store.set_deployment_paused(first.id, True)
    second = store.deploy(spec(work_pool="gpu", tags=["prod", "big"], parameters={}))
    assert second.id == first.id
    assert (second.work_pool, second.tags, second.parameters) == ("gpu", ["prod", "big"], {})
    assert second.paused  # a re-deploy keeps the paused flag
    assert second.created == first.created and second.updated >= first.updated
    assert [d.full_name for d in store.read_deployments()] == ["etl/nightly"]


def test_new_schedules_drop_the_unstarted_runs_of_the_old_ones(store: Store) -> None:
    deployment = store.deploy(spec())
    sched_id = deployment.schedules[0].id
    slot = store.create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"n": 1}, idempotency_key="slot-1"),
        schedule_id=sched_id,
    )
    by_hand = store.create_deployment_run(deployment.id, DeploymentRunRequest(parameters={"n": 2}))
    started = store.create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"n": 3}, idempotency_key="slot-2"),
        schedule_id=sched_id,
    )
    store.set_flow_run_state(started.id, State(StateType.PENDING, "Pending"))
    store.deploy(spec())  # same schedules: nothing changes
    assert store.read_flow_run(slot.id).id == slot.id
    store.deploy(spec(schedules=[DeploymentSchedule(schedule={"kind": "interval", "every": 60})]))
    with pytest.raises(ObjectNotFound):
        store.read_flow_run(slot.id)
    assert store.read_flow_run(by_hand.id).state.name == "Scheduled"
    assert store.read_flow_run(started.id).state.name == "Pending"


def test_a_run_is_scheduled_with_merged_parameters_and_its_slot(store: Store) -> None:
    deployment = store.deploy(spec())
    due = datetime(2026, 12, 1, 2, tzinfo=UTC)
    run = store.create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"n": 5}, scheduled_time=due, tags=["manual"]),
    )
    assert run.parameters == {"label": "nightly", "n": 5}
    assert (run.state.type, run.state.name) == ("SCHEDULED", "Scheduled")
    assert run.state.scheduled_time == due
    assert run.expected_start_time == due
    assert (run.deployment_id, run.work_pool, run.flow_name) == (deployment.id, "local", "etl")
    assert run.entrypoint == "flows/etl.py:etl"
    assert run.tags == ["prod", "manual"]
    assert [r.id for r in store.read_flow_runs(tags=["manual"])] == [run.id]
    assert [s.name for s in store.read_state_history(run.id)] == ["Scheduled"]


def test_an_idempotency_key_makes_one_run(store: Store) -> None:
    deployment = store.deploy(spec())
    request = DeploymentRunRequest(parameters={"n": 1}, idempotency_key="etl:2026-12-01")
    first = store.create_deployment_run(deployment.id, request)
    again = store.create_deployment_run(deployment.id, request)
    assert again.id == first.id
    assert len(store.read_flow_runs(flow_name="etl")) == 1
    assert len(store.read_state_history(first.id)) == 1


@pytest.mark.parametrize(
    ("parameters", "says"),
    [
        ({"n": "many"}, "parameter 'n': 'many' is not of type 'integer'"),
        ({"n": 1, "colour": "red"}, "unknown parameter(s) 'colour'"),
        ({"label": "x"}, "'n' is required"),
    ],
)
def test_bad_parameters_are_refused_by_name_and_nothing_is_stored(
    store: Store, parameters: dict[str, Any], says: str
) -> None:
    deployment = store.deploy(spec())
    with pytest.raises(ParameterValidationError) as caught:
        store.create_deployment_run(deployment.id, DeploymentRunRequest(parameters=parameters))
    assert says in str(caught.value)
    assert "the flow takes: n, label" in str(caught.value)
    assert store.read_flow_runs() == []


def test_bad_defaults_and_schedules_are_refused_at_deploy_time(store: Store) -> None:
    with pytest.raises(ParameterValidationError, match="parameter 'n'"):
        store.deploy(spec(parameters={"n": "x"}))
    with pytest.raises(ScheduleError, match="minute field '61'"):
        store.deploy(
            spec(schedules=[DeploymentSchedule(schedule={"kind": "cron", "expr": "61 * * * *"})])
        )
    with pytest.raises(ScheduleError, match="Europe/London"):
        store.deploy(
            spec(
                schedules=[
                    DeploymentSchedule(
                        schedule={"kind": "cron", "expr": "0 * * * *", "timezone": "Europe/Lodnon"}
                    )
                ]
            )
        )
    assert store.read_deployments() == []


def test_deployments_are_found_by_full_name_name_or_id(store: Store) -> None:
    nightly = store.deploy(spec())
    other = store.deploy(spec(flow_name="report"))
    store.deploy(spec(flow_name="report", name="weekly"))
    assert store.read_deployment("etl/nightly").id == nightly.id
    assert store.read_deployment(other.id.upper()).id == other.id
    assert store.read_deployment("weekly").flow_name == "report"
    with pytest.raises(ObjectNotFound, match="ambiguous: etl/nightly, report/nightly"):
        store.read_deployment("nightly")
    with pytest.raises(ObjectNotFound, match="no deployment 'etl/daily'"):
        store.read_deployment("etl/daily")


def test_delete_keeps_started_runs(store: Store) -> None:
    deployment = store.deploy(spec())
    waiting = store.create_deployment_run(deployment.id, DeploymentRunRequest(parameters={"n": 1}))
    ran = store.create_deployment_run(deployment.id, DeploymentRunRequest(parameters={"n": 2}))
    store.set_flow_run_state(ran.id, State(StateType.PENDING, "Pending"))
    assert store.delete_deployment(deployment.id) == 1
    assert [r.id for r in store.read_flow_runs()] == [ran.id]
    with pytest.raises(ObjectNotFound):
        store.read_deployment(deployment.id)
    with pytest.raises(ObjectNotFound):
        store.delete_deployment(deployment.id)
    with pytest.raises(ObjectNotFound):
        store.read_flow_run(waiting.id)


def test_pause_and_resume(store: Store) -> None:
    deployment = store.deploy(spec())
    assert store.set_deployment_paused(deployment.id, True).paused
    assert not store.set_deployment_paused(deployment.id, False).paused
    with pytest.raises(ObjectNotFound):
        store.set_deployment_paused("0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e", True)


def test_due_times_keep_their_zone(store: Store) -> None:
    deployment = store.deploy(spec())
    due = datetime(2026, 3, 8, 3, tzinfo=UTC) + timedelta(hours=4)
    run = store.create_deployment_run(
        deployment.id, DeploymentRunRequest(parameters={"n": 1}, scheduled_time=due)
    )
    assert run.expected_start_time == due


def test_a_rescheduled_run_with_a_past_survives_new_schedules(store: Store) -> None:
    """A run that started, crashed and waits for its retry is history, not a slot."""
    deployment = store.deploy(spec())
    run = store.create_deployment_run(
        deployment.id,
        DeploymentRunRequest(parameters={"n": 1}, idempotency_key="slot-x"),
        schedule_id=deployment.schedules[0].id,
    )
    store.set_flow_run_state(run.id, State(StateType.PENDING, "Pending"), fields={"run_count": 1})
    store.set_flow_run_state(run.id, State(StateType.SCHEDULED, "AwaitingRetry"))
    store.deploy(spec(schedules=[DeploymentSchedule(schedule={"kind": "interval", "every": 60})]))
    assert store.read_flow_run(run.id).state.name == "AwaitingRetry"
    assert store.delete_deployment(deployment.id) == 0
    assert store.read_flow_run(run.id).run_count == 1


def test_pausing_removes_unstarted_schedule_runs_but_not_runs_asked_for(store: Store) -> None:
    deployment = store.deploy(
        spec(
            schedules=[
                DeploymentSchedule(schedule={"kind": "cron", "expr": "0 2 * * *"}),
                DeploymentSchedule(schedule={"kind": "interval", "every": 3600}),
            ]
        )
    )
    first, second = (item.id for item in deployment.schedules)

    def slot(schedule_id: str, key: str) -> str:
        request = DeploymentRunRequest(parameters={"n": 1}, idempotency_key=key)
        return store.create_deployment_run(deployment.id, request, schedule_id=schedule_id).id

    a = slot(first, "a")
    slot(second, "b")
    by_hand = store.create_deployment_run(
        deployment.id, DeploymentRunRequest(parameters={"n": 2})
    ).id

    paused = store.set_schedule_active(deployment.id, "2", False)
    assert [item.active for item in paused.schedules] == [True, False]
    assert {r.id for r in store.read_flow_runs()} == {a, by_hand}
    assert store.set_schedule_active(deployment.id, second, True).schedules[1].active
    with pytest.raises(ObjectNotFound, match="no schedule '3'; it has 2"):
        store.set_schedule_active(deployment.id, "3", False)

    store.set_deployment_paused(deployment.id, True)
    assert [r.id for r in store.read_flow_runs()] == [by_hand]
