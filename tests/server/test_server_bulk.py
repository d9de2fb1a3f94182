"""``POST /api/bulk`` under attack: a 200 means committed, whoever else writes at once.

A real ``legato server start`` on SQLite and on PostgreSQL; clients are threads
posting at the same moment (a barrier), so their batches share the server's writer
transactions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.postgres import BACKENDS
from fixtures.servers import ServerProcess, backend_home, running_server
from legato.ids import new_id


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with (
        backend_home(request, tmp_path) as (home, database_url),
        running_server(home, tmp_path / "server.log", database_url) as started,
    ):
        yield started


def create_flow_run(api: httpx.Client, name: str = "bulk") -> str:
    flow_run_id, now = new_id(), time.time()
    answer = api.post(
        "/api/orchestrator/flow_runs",
        json={
            "row": {
                "id": flow_run_id,
                "flow_name": name,
                "name": f"{name}-run",
                "parameters": {},
                "tags": [],
                "created": now,
            },
            "state": {"type": "RUNNING", "name": "Running", "timestamp": now},
        },
    )
    assert answer.status_code == 200, answer.text
    return flow_run_id


def batch(flow_run_id: str, task_run_ids: list[str], name: str = "t") -> dict[str, Any]:
    now = time.time()
    rows = [
        {
            "id": task_run_id,
            "flow_run_id": flow_run_id,
            "name": name,
            "task_key": "bulk.t",
            "dynamic_key": 0,
            "tags": [],
            "state_type": "COMPLETED",
            "state_name": "Completed",
            "state_timestamp": now,
            "run_count": 1,
            "created": now,
        }
        for task_run_id in task_run_ids
    ]
    return {
        "batch_id": new_id(),
        "task_runs": rows,
        "states": [
            {"task_run_id": r["id"], "type": "COMPLETED", "name": "Completed", "timestamp": now}
            for r in rows
        ],
        "logs": [
            {
                "flow_run_id": flow_run_id,
                "task_run_id": r["id"],
                "timestamp": now,
                "level": "INFO",
                "logger": "bulk",
                "message": f"line of {r['id']}",
            }
            for r in rows
        ],
    }


def all_pages(api: httpx.Client, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 1000}
    while True:
        answer = api.get(path, params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items.extend(page)
        cursor = answer.headers.get("x-next-cursor")
        if not cursor or not page:
            return items
        params = {"limit": 1000, "cursor": cursor}


def test_bulk_200_means_stored_while_another_client_sends_a_duplicate(
    server: ServerProcess,
) -> None:
    clients, rounds, per_batch = 8, 4, 30  # under one page of 1,000 log lines
    with httpx.Client(base_url=server.url, timeout=120) as api:
        flow_run_id = create_flow_run(api)
        taken = new_id()
        first = api.post("/api/bulk", json=batch(flow_run_id, [taken], name="original"))
        assert first.status_code == 200, first.text

    answers: list[tuple[int, list[str], httpx.Response]] = []
    lock = threading.Lock()
    gate = threading.Barrier(clients)

    def client(index: int) -> None:
        with httpx.Client(base_url=server.url, timeout=120) as mine:
            for _ in range(rounds):
                ids = [new_id() for _ in range(per_batch)]
                if index == 0:
                    ids[per_batch // 2] = taken
                body = batch(flow_run_id, ids, name=f"client-{index}")
                gate.wait()
                answer = mine.post("/api/bulk", json=body)
                with lock:
                    answers.append((index, ids, answer))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with httpx.Client(base_url=server.url, timeout=120) as api:
        stored = {t["id"]: t for t in all_pages(api, f"/api/flow_runs/{flow_run_id}/task_runs")}
        logged = {
            line["task_run_id"] for line in all_pages(api, f"/api/flow_runs/{flow_run_id}/logs")
        }
        for index, ids, answer in sorted(answers, key=lambda a: a[0] == 0):
            if index == 0:
                assert answer.status_code == 409, answer.text
                assert taken in answer.json()["detail"]
                assert "Nothing of this batch was stored" in answer.json()["detail"]
                assert not {i for i in ids if i != taken} & stored.keys()
            else:
                assert answer.status_code == 200, answer.text
                missing = [i for i in ids if i not in stored or i not in logged]
                assert missing == [], f"acknowledged but not stored: {len(missing)}"
                assert {stored[i]["state"]["name"] for i in ids} == {"Completed"}
        # the existing task run was not overwritten by the duplicate
        assert stored[taken]["name"] == "original"
        history = api.get(f"/api/task_runs/{taken}/state_history").json()
        assert len(history) == 1
    assert len(stored) == 1 + (clients - 1) * rounds * per_batch
