"""Flow runs over HTTP: lists, filters, pagination and reads by id equal the store's."""

from __future__ import annotations

from typing import Any

import httpx

import legato
from fixtures.served import TINY_RUNS, Served


def _dump(records: list[Any]) -> list[dict[str, Any]]:
    return [record.model_dump(mode="json") for record in records]


def test_flow_runs_list_newest_first(api: httpx.Client, served: Served) -> None:
    response = api.get("/api/flow_runs", params={"limit": 1000})
    assert response.status_code == 200
    runs = response.json()
    assert runs == _dump(legato.get_client().read_flow_runs(limit=1000))
    created = [run["created"] for run in runs]
    assert created == sorted(created, reverse=True)
    assert runs[-1]["id"] == served.recorded.tiny_ids[-1]  # the first run recorded


def test_flow_runs_list_default_limit_is_50(api: httpx.Client) -> None:
    assert len(api.get("/api/flow_runs").json()) == 50


def test_flow_runs_filter_by_flow_name(api: httpx.Client, served: Served) -> None:
    runs = api.get("/api/flow_runs", params={"flow_name": "tiny", "limit": 1000}).json()
    assert [run["id"] for run in runs] == served.recorded.tiny_ids
    assert len(runs) == TINY_RUNS
    assert api.get("/api/flow_runs", params={"flow_name": "no-such-flow"}).json() == []


def test_flow_runs_filter_by_state_type_any_case(api: httpx.Client, served: Served) -> None:
    runs = api.get("/api/flow_runs", params={"state": "failed"}).json()
    assert [run["id"] for run in runs] == [served.recorded.broken_id]
    assert runs[0]["state"]["type"] == "FAILED"


def test_flow_runs_filter_by_state_name(api: httpx.Client) -> None:
    runs = api.get("/api/flow_runs", params={"state": "Completed", "flow_name": "child"}).json()
    assert len(runs) == 2
    assert {run["state"]["name"] for run in runs} == {"Completed"}


def test_flow_runs_filter_by_parent(api: httpx.Client, served: Served) -> None:
    parent_id = served.recorded.parent_id
    runs = api.get("/api/flow_runs", params={"parent_flow_run_id": parent_id}).json()
    assert [run["flow_name"] for run in runs] == ["child", "child"]
    assert [run["parameters"] for run in runs] == [{"n": 2}, {"n": 1}]
    assert {run["parent_flow_run_id"] for run in runs} == {parent_id}


def test_flow_runs_pages_cover_every_run_once(api: httpx.Client, served: Served) -> None:
    pages = []
    for offset in range(0, TINY_RUNS, 25):
        params = {"flow_name": "tiny", "limit": 25, "offset": offset}
        pages.append(api.get("/api/flow_runs", params=params).json())
    assert [len(page) for page in pages] == [25, 25, 25, 25, 20]
    assert [run["id"] for page in pages for run in page] == served.recorded.tiny_ids


def test_flow_runs_page_past_the_end_is_empty(api: httpx.Client) -> None:
    params = {"flow_name": "tiny", "limit": 10, "offset": TINY_RUNS}
    response = api.get("/api/flow_runs", params=params)
    assert response.status_code == 200
    assert response.json() == []


def test_flow_run_by_id_equals_client_record(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    response = api.get(f"/api/flow_runs/{run_id}")
    assert response.status_code == 200
    assert response.json() == legato.get_client().read_flow_run(run_id).model_dump(mode="json")
    assert response.json()["parameters"] == {"label": "x"}


def test_flow_run_id_accepted_in_upper_case(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.pipeline_id
    assert api.get(f"/api/flow_runs/{run_id.upper()}").json()["id"] == run_id


def test_flow_run_state_history_oldest_first(api: httpx.Client, served: Served) -> None:
    run_id = served.recorded.broken_id
    history = api.get(f"/api/flow_runs/{run_id}/state_history").json()
    assert history == _dump(legato.get_client().read_state_history(run_id))
    assert [state["name"] for state in history] == ["Pending", "Running", "Failed"]
    assert "broken on purpose" in history[-1]["message"]


def test_flows_list_by_name_and_read_one(api: httpx.Client) -> None:
    flows = api.get("/api/flows").json()
    names = [flow["name"] for flow in flows]
    assert names == sorted(names)
    # Other tests of the session may register flows of their own in this store.
    recorded = ["broken", "child", "parent", "pipeline", "tiny"]
    assert [name for name in names if name in recorded] == recorded
    one = api.get("/api/flows/pipeline").json()
    assert one == next(flow for flow in flows if flow["name"] == "pipeline")
    page = api.get("/api/flows", params={"limit": 2, "offset": 1}).json()
    assert [f["name"] for f in page] == names[1:3]
    missing = api.get("/api/flows/no-such-flow")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no flow named 'no-such-flow'"}


def test_flows_cli_reads_the_server(api: httpx.Client, served: Served) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "LEGATO_API_URL": served.url,
        "LEGATO_HOME": str(served.home / "elsewhere"),
    }
    env.pop("LEGATO_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-m", "legato", "flows", "ls", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == api.get("/api/flows").json()
