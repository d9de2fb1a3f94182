"""Task-run states sent to ``POST /api/bulk`` pass the task-run rule: a batch holding a
state the rule refuses (a task run leaving a terminal state other than to Pending, in
the batch itself or after the state stored before it) is refused whole with a 409 that
says why, and nothing of it is stored."""

from __future__ import annotations

import time
from typing import Any

import httpx

import legato
from legato.ids import new_id


def create_flow_run(api: httpx.Client) -> str:
    flow_run_id, now = new_id(), time.time()
    answer = api.post(
        "/api/orchestrator/flow_runs",
        json={
            "row": {
                "id": flow_run_id,
                "flow_name": "rules",
                "name": "rules-run",
                "parameters": {},
                "tags": [],
                "created": now,
            },
            "state": {"type": "RUNNING", "name": "Running", "timestamp": now},
        },
    )
    assert answer.status_code == 200, answer.text
    return flow_run_id


def row(task_run_id: str, flow_run_id: str, state: tuple[str, str], at: float) -> dict[str, Any]:
    return {
        "id": task_run_id,
        "flow_run_id": flow_run_id,
        "name": "t",
        "task_key": "rules.t",
        "dynamic_key": 0,
        "tags": [],
        "state_type": state[0],
        "state_name": state[1],
        "state_timestamp": at,
        "run_count": 1,
        "created": at,
    }


def states(task_run_id: str, at: float, *moves: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {"task_run_id": task_run_id, "type": type_, "name": name, "timestamp": at + k}
        for k, (type_, name) in enumerate(moves)
    ]


def history(task_run_id: str) -> list[str]:
    return [s.name for s in legato.get_client().read_state_history(task_run_id)]


PENDING, RUNNING = ("PENDING", "Pending"), ("RUNNING", "Running")
COMPLETED, CACHED = ("COMPLETED", "Completed"), ("COMPLETED", "Cached")


def test_a_state_after_a_stored_end_is_refused_whole(api: httpx.Client) -> None:
    flow_run_id, task_run_id, now = create_flow_run(api), new_id(), time.time()
    first = {
        "batch_id": new_id(),
        "task_runs": [row(task_run_id, flow_run_id, COMPLETED, now + 2)],
        "states": states(task_run_id, now, PENDING, RUNNING, COMPLETED),
    }
    assert api.post("/api/bulk", json=first).status_code == 200
    other = new_id()
    again = {
        "batch_id": new_id(),
        "task_runs": [row(other, flow_run_id, PENDING, now + 3)],
        "updates": [row(task_run_id, flow_run_id, RUNNING, now + 4)],
        "states": [*states(other, now + 3, PENDING), *states(task_run_id, now + 4, RUNNING)],
    }
    answer = api.post("/api/bulk", json=again)
    assert answer.status_code == 409, answer.text
    assert f"task run {task_run_id}" in answer.json()["detail"]
    assert "already Completed" in answer.json()["detail"]
    assert history(task_run_id) == ["Pending", "Running", "Completed"]
    task_runs = legato.get_client().read_task_runs(flow_run_id)
    assert [(t.id, t.state.name) for t in task_runs] == [(task_run_id, "Completed")]


def test_states_within_one_batch_follow_one_another(api: httpx.Client) -> None:
    flow_run_id, task_run_id, now = create_flow_run(api), new_id(), time.time()
    body = {
        "batch_id": new_id(),
        "task_runs": [row(task_run_id, flow_run_id, CACHED, now + 2)],
        "states": states(task_run_id, now, PENDING, COMPLETED, CACHED),
    }
    answer = api.post("/api/bulk", json=body)
    assert answer.status_code == 409, answer.text
    assert legato.get_client().read_task_runs(flow_run_id) == []


def test_a_new_attempt_runs_an_ended_task_run_again(api: httpx.Client) -> None:
    flow_run_id, task_run_id, now = create_flow_run(api), new_id(), time.time()
    first = {
        "batch_id": new_id(),
        "task_runs": [row(task_run_id, flow_run_id, ("FAILED", "Failed"), now + 2)],
        "states": states(task_run_id, now, PENDING, RUNNING, ("FAILED", "Failed")),
    }
    assert api.post("/api/bulk", json=first).status_code == 200
    rerun = {
        "batch_id": new_id(),
        "updates": [row(task_run_id, flow_run_id, COMPLETED, now + 5)],
        "states": states(task_run_id, now + 3, PENDING, RUNNING, COMPLETED),
    }
    assert api.post("/api/bulk", json=rerun).status_code == 200
    assert history(task_run_id) == [
        "Pending",
        "Running",
        "Failed",
        "Pending",
        "Running",
        "Completed",
    ]
