"""The wire records are the one list of a run's columns: every other list must match."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import ValidationError

import legato
from fixtures.engine_memory import Hand, MemoryOrchestrator
from legato.engine.actions import CreateFlowRun
from legato.engine.flow_engine import FlowCall
from legato.engine.flow_machine import flow_machine
from legato.engine.task_run import TaskRun
from legato.ids import new_id
from legato.orchestrator.bulk_sender import _task_run_json
from legato.schemas.flow_runs import STORED_FLOW_RUN_FIELDS, FlowRunFields, FlowRunRow
from legato.schemas.task_runs import (
    PREVIOUS_TASK_RUN_FIELDS,
    TASK_RUN_CURRENT_FIELDS,
    TASK_RUN_FIELDS,
    TASK_RUN_STATE_FIELDS,
    PreviousTaskRun,
    TaskRunRow,
)
from legato.states import State, StateType
from legato.store.tables import flow_runs, task_runs


def test_task_run_table_has_the_wire_columns() -> None:
    assert [column.name for column in task_runs.columns] == list(TASK_RUN_FIELDS)


def test_engine_task_run_carries_every_wire_column() -> None:
    # The engine's TaskRun stays a plain slotted class (it is made per task call); the
    # writer and the client's sender read the wire columns off it by attribute.
    slots = [f.name for f in dataclasses.fields(TaskRun) if f.name != "state"]
    properties = [
        name for name in TASK_RUN_STATE_FIELDS if isinstance(getattr(TaskRun, name), property)
    ]
    assert properties == list(TASK_RUN_STATE_FIELDS)
    assert sorted([*slots, *properties]) == sorted(TASK_RUN_FIELDS)


def test_engine_task_run_as_sent_validates_as_the_wire_row() -> None:
    run_id = new_id()
    task_run = TaskRun(
        id=run_id,
        flow_run_id=new_id(),
        name="add-0",
        task_key="mod.add",
        dynamic_key=0,
        tags=("a",),
        state=State(StateType.PENDING, "Pending", run_id=run_id),
    )
    task_run.move_to(State(StateType.RUNNING, "Running"))
    sent = json.loads(json.dumps(_task_run_json(task_run)))
    row = TaskRunRow.model_validate(sent)
    assert {name: getattr(row, name) for name in TASK_RUN_FIELDS} == sent
    assert row.state_type == "RUNNING"


def test_current_fields_are_the_state_then_what_changes() -> None:
    assert TASK_RUN_CURRENT_FIELDS[: len(TASK_RUN_STATE_FIELDS)] == TASK_RUN_STATE_FIELDS
    assert "id" not in TASK_RUN_CURRENT_FIELDS
    assert "created" not in TASK_RUN_CURRENT_FIELDS
    assert set(TASK_RUN_CURRENT_FIELDS) < set(TASK_RUN_FIELDS)


def test_previous_task_run_reads_task_run_columns() -> None:
    assert set(PREVIOUS_TASK_RUN_FIELDS) <= set(TASK_RUN_FIELDS)
    assert "value" not in PREVIOUS_TASK_RUN_FIELDS


def test_previous_task_run_from_stored_keeps_no_value() -> None:
    columns: dict[str, object] = dict.fromkeys(TASK_RUN_FIELDS)
    columns.update(id="x", task_key="k", dynamic_key=2, state_type="COMPLETED", run_count=1)
    previous = PreviousTaskRun.from_stored(columns)
    assert (previous.task_key, previous.dynamic_key, previous.has_value) == ("k", 2, False)
    assert previous.stored() == {name: columns[name] for name in PREVIOUS_TASK_RUN_FIELDS}
    with pytest.raises(dataclasses.FrozenInstanceError):
        previous.run_count = 3  # type: ignore[misc]


def test_stored_flow_run_is_every_column_but_the_token_hash() -> None:
    columns = [column.name for column in flow_runs.columns]
    assert list(STORED_FLOW_RUN_FIELDS) == [name for name in columns if name != "token_hash"]


def test_engine_creates_a_flow_run_with_the_wire_row() -> None:
    def body(x: int = 1) -> int:
        return x

    orch = MemoryOrchestrator()
    call = FlowCall(legato.flow(body, name="wire"), (2,), {}, orchestrator=orch)  # type: ignore[arg-type]
    hand = Hand(orch, bodies=[(True, 2)])
    hand.drive(flow_machine(call))

    created = next(a for a in hand.actions if isinstance(a, CreateFlowRun))
    row = FlowRunRow.model_validate(json.loads(json.dumps(created.row)))
    assert set(created.row) == set(FlowRunRow.model_fields)
    assert (row.flow_name, row.parameters, row.run_count) == ("wire", {"x": 2}, 0)
    stored = orch.read_flow_run_row(row.id)
    assert (stored.name, stored.state_type, stored.run_count) == (row.name, "COMPLETED", 1)


def test_flow_run_wire_models_name_stored_columns() -> None:
    assert set(FlowRunRow.model_fields) <= set(STORED_FLOW_RUN_FIELDS)
    assert set(FlowRunFields.model_fields) <= set(STORED_FLOW_RUN_FIELDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "not-a-uuid"),
        ("name", "x" * 256),
        ("task_key", "a\x00b"),
        ("run_count", 2**31),
        ("created", 1e12),
        ("state_type", "SLEEPING"),
    ],
)
def test_task_run_row_refuses_what_the_store_cannot_hold(field: str, value: object) -> None:
    row = {
        "id": new_id(),
        "flow_run_id": new_id(),
        "name": "t",
        "task_key": "k",
        "dynamic_key": 0,
        "tags": [],
        "state_type": "PENDING",
        "state_name": "Pending",
        "state_timestamp": 1.0,
        "run_count": 0,
        "created": 1.0,
    }
    TaskRunRow.model_validate(row)
    with pytest.raises(ValidationError) as raised:
        TaskRunRow.model_validate({**row, field: value})
    assert raised.value.errors()[0]["loc"] == (field,)
