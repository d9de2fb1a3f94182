"""Task runs, their graph edges and states, and logs over HTTP."""

from __future__ import annotations

import httpx

import legato
from fixtures.served import Served


def test_task_runs_of_flow_run_equal_client_records(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    response = api.get(f"/api/flow_runs/{run_id}/task_runs")
    assert response.status_code == 200
    expected = [t.model_dump(mode="json") for t in legato.get_client().read_task_runs(run_id)]
    assert response.json() == expected
    assert [t["name"] for t in response.json()] == [
        "extract-0",
        "double-0",
        "double-1",
        "double-2",
        "total-0",
    ]


def test_task_runs_carry_upstream_ids(api: httpx.Client, served: Served) -> None:
    task_runs = api.get(f"/api/flow_runs/{served.recorded.pipeline_id}/task_runs").json()
    by_name = {t["name"]: t for t in task_runs}
    doubles = [by_name[f"double-{i}"]["id"] for i in range(3)]
    assert by_name["total-0"]["upstream_ids"] == doubles
    assert {edge["parameter"] for edge in by_name["total-0"]["inputs"]} == {"values"}
    assert by_name["double-0"]["upstream_ids"] == [by_name["extract-0"]["id"]]
    assert by_name["double-0"]["inputs"][0]["parameter"] == "wait_for"


def test_task_run_by_id_equals_client_record(api: httpx.Client, served: Served) -> None:
    task_run = api.get(f"/api/flow_runs/{served.recorded.pipeline_id}/task_runs").json()[-1]
    response = api.get(f"/api/task_runs/{task_run['id']}")
    assert response.status_code == 200
    assert response.json() == task_run
    assert response.json() == (
        legato.get_client().read_task_run(task_run["id"]).model_dump(mode="json")
    )


def test_task_run_state_history(api: httpx.Client, served: Served) -> None:
    task_run = api.get(f"/api/flow_runs/{served.recorded.pipeline_id}/task_runs").json()[0]
    history = api.get(f"/api/task_runs/{task_run['id']}/state_history").json()
    assert [state["name"] for state in history] == ["Pending", "Running", "Completed"]
    expected = legato.get_client().read_state_history(task_run["id"])
    assert history == [state.model_dump(mode="json") for state in expected]


def test_logs_of_flow_run_oldest_first(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    logs = api.get(f"/api/flow_runs/{run_id}/logs").json()
    assert logs == [line.model_dump(mode="json") for line in legato.get_client().read_logs(run_id)]
    messages = [line["message"] for line in logs]
    assert messages.index("pipeline x starting") < messages.index("total of 3 values")


def test_logs_filtered_by_task_run(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    total_id = api.get(f"/api/flow_runs/{run_id}/task_runs").json()[-1]["id"]
    logs = api.get(f"/api/flow_runs/{run_id}/logs", params={"task_run_id": total_id}).json()
    assert [line["message"] for line in logs] == ["total of 3 values"]
    assert logs[0]["task_run_id"] == total_id


def test_logs_limited(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    everything = api.get(f"/api/flow_runs/{run_id}/logs").json()
    assert len(everything) >= 2
    assert api.get(f"/api/flow_runs/{run_id}/logs", params={"limit": 1}).json() == everything[:1]
