"""Client mode: a flow process with LEGATO_API_URL records everything on a real server.

The server runs in its own process on its own LEGATO_HOME; the flow runs in a
subprocess whose LEGATO_HOME is another folder, so nothing can be written locally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.servers import ServerProcess, running_server, start_server
from legato.errors import ObjectNotFound
from legato.orchestrator.client import ClientOrchestrator

pytestmark = pytest.mark.slow

FLOW_FILE = """
import sys
import time

from legato import flow, get_run_logger, task

attempts = {"n": 0}


@task
def source() -> list[int]:
    return list(range(40))


@task
def square(x: int) -> int:
    time.sleep(float(sys.argv[1]))
    get_run_logger().info("square of %d", x)
    return x * x


@task(retries=2, retry_delay_seconds=0)
def flaky() -> str:
    attempts["n"] += 1
    if attempts["n"] < 2:
        raise RuntimeError("first attempt fails")
    return "ok"


@task
def add(values: list[int]) -> int:
    return sum(values)


@flow
def client_flow() -> int:
    get_run_logger().info("client flow starting")
    numbers = source.submit()
    squares = square.map(list(range(40)), wait_for=[numbers])
    singles = [square.submit(i) for i in range(6)]
    flaky()
    return int(add.submit(squares).result()) + sum(f.result() for f in singles)


if __name__ == "__main__":
    print("result", client_flow())
"""

TASK_COUNT = 1 + 40 + 6 + 1 + 1
EXPECTED = sum(i * i for i in range(40)) + sum(i * i for i in range(6))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path / "server-home", tmp_path / "server.log") as started:
        yield started


def _client_env(tmp_path: Path, url: str) -> dict[str, str]:
    return {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "client-home"),
        "LEGATO_API_URL": url,
        "LEGATO_CLIENT_MAX_OUTAGE": "60",
    }


def _run_flow(tmp_path: Path, url: str, sleep: float) -> subprocess.Popen[str]:
    flow_file = tmp_path / "my_flow.py"
    flow_file.write_text(FLOW_FILE)
    return subprocess.Popen(
        [sys.executable, str(flow_file), str(sleep)],
        env=_client_env(tmp_path, url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _assert_recorded(api: httpx.Client) -> str:
    runs = api.get("/api/flow_runs", params={"flow_name": "client-flow"}).json()
    assert len(runs) == 1
    run = runs[0]
    assert run["state"]["name"] == "Completed"
    flow_run_id: str = run["id"]
    task_runs = api.get(f"/api/flow_runs/{flow_run_id}/task_runs").json()
    assert len(task_runs) == TASK_COUNT
    assert {t["state"]["name"] for t in task_runs} == {"Completed"}
    add = next(t for t in task_runs if t["name"].startswith("add-"))
    assert len(add["upstream_ids"]) == 40
    flaky = next(t for t in task_runs if t["name"].startswith("flaky-"))
    assert flaky["run_count"] == 2
    history = api.get(f"/api/task_runs/{flaky['id']}/state_history").json()
    assert [s["name"] for s in history] == [
        "Pending",
        "Running",
        "AwaitingRetry",
        "Retrying",
        "Completed",
    ]
    flow_history = api.get(f"/api/flow_runs/{flow_run_id}/state_history").json()
    assert [s["name"] for s in flow_history] == ["Pending", "Running", "Completed"]
    for task_run in task_runs:
        states = api.get(f"/api/task_runs/{task_run['id']}/state_history").json()
        assert states[-1]["name"] == "Completed"
    logs = api.get(f"/api/flow_runs/{flow_run_id}/logs").json()
    messages = [line["message"] for line in logs]
    assert "client flow starting" in messages
    assert sum(m.startswith("square of ") for m in messages) == 46
    return flow_run_id


def test_flow_in_client_mode_is_recorded_on_the_server(
    tmp_path: Path, server: ServerProcess
) -> None:
    process = _run_flow(tmp_path, server.url, 0.0)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    assert f"result {EXPECTED}" in output
    with httpx.Client(base_url=server.url, timeout=30) as api:
        flow_run_id = _assert_recorded(api)
    assert not (tmp_path / "client-home" / "legato.db").exists()

    listed = subprocess.run(
        [sys.executable, "-m", "legato", "runs", "ls", "--json"],
        env=_client_env(tmp_path, server.url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [flow_run_id]
    assert not (tmp_path / "client-home" / "legato.db").exists()


def test_client_reads_what_the_server_recorded(tmp_path: Path, server: ServerProcess) -> None:
    process = _run_flow(tmp_path, server.url, 0.0)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 0, output
    client = ClientOrchestrator(server.url, max_outage=5)
    try:
        [run] = client.read_flow_runs(flow_name="client-flow")
        assert client.resolve_flow_run_id(run.id[:8]) == run.id
        assert client.resolve_flow_run_id(run.name) == run.id
        assert client.read_flow_run(run.id).state.name == "Completed"
        assert [s.name for s in client.read_state_history(run.id)][-1] == "Completed"
        task_runs = client.read_task_runs(run.id)
        assert len(task_runs) == TASK_COUNT
        histories = client.read_task_state_histories(run.id)
        assert set(histories) == {t.id for t in task_runs}
        assert client.read_task_run(task_runs[0].id).id == task_runs[0].id
        assert client.read_state_history(task_runs[0].id)[-1].name == "Completed"
        assert len(client.read_logs(run.id, limit=3)) == 3
        by_key = client.read_task_runs_by_key(run.id)
        assert {row.id for row in by_key.values()} == {t.id for t in task_runs}
        assert {(t.task_key, t.dynamic_key) for t in task_runs} == set(by_key)
        with pytest.raises(ObjectNotFound):
            client.read_flow_run("00000000-0000-0000-0000-000000000000")
        with pytest.raises(ObjectNotFound):
            client.resolve_flow_run_id("ffffffff")
    finally:
        client.close()


def test_flow_in_client_mode_fails_clearly_when_the_server_stays_away(
    tmp_path: Path, server: ServerProcess
) -> None:
    env = {**_client_env(tmp_path, server.url), "LEGATO_CLIENT_MAX_OUTAGE": "2"}
    flow_file = tmp_path / "my_flow.py"
    flow_file.write_text(FLOW_FILE)
    process = subprocess.Popen(
        [sys.executable, str(flow_file), "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    with httpx.Client(base_url=server.url, timeout=30) as api:
        deadline = time.monotonic() + 60
        while not api.get("/api/flow_runs", params={"flow_name": "client-flow"}).json():
            assert time.monotonic() < deadline
            time.sleep(0.05)
    server.process.kill()
    server.process.wait(timeout=30)
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert f"the legato server at {server.url} has been unreachable for" in output


def test_flow_in_client_mode_survives_a_server_restart(
    tmp_path: Path, server: ServerProcess
) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    process = _run_flow(tmp_path, server.url, 0.1)
    api = httpx.Client(base_url=server.url, timeout=30)
    deadline = time.monotonic() + 60
    while not api.get("/api/flow_runs", params={"flow_name": "client-flow"}).json():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # mid-run: tasks are sleeping
    server.process.kill()
    server.process.wait(timeout=30)
    time.sleep(1.0)
    restarted = start_server(tmp_path / "server-home", tmp_path / "server2.log", port=port)
    try:
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, output
        assert f"result {EXPECTED}" in output
        _assert_recorded(api)
        assert '"POST /api/bulk HTTP/1.1" 200' in server.log()  # records before the kill
        assert '"POST /api/bulk HTTP/1.1" 200' in restarted.log()  # and after the restart
    finally:
        api.close()
        restarted.stop()


GATHERED_FLOW = """
import asyncio

import legato.orchestrator.bulk_sender as sender
from legato import flow, task

# Tiny batches: the records of one task run travel in several batches, and more than
# one batch's worth waits at the flow's flush.
sender.MAX_BATCH_OPS = 7


@task
async def work(i: int) -> int:
    await asyncio.sleep(0.001)
    return i


@flow
async def gathered() -> int:
    return sum(await asyncio.gather(*(work(i) for i in range(60))))


if __name__ == "__main__":
    print("result", asyncio.run(gathered()))
"""


def test_records_sent_in_many_small_batches_are_all_stored_in_order(
    tmp_path: Path, server: ServerProcess
) -> None:
    flow_file = tmp_path / "gathered.py"
    flow_file.write_text(GATHERED_FLOW)
    done = subprocess.run(
        [sys.executable, str(flow_file)],
        env=_client_env(tmp_path, server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"result {sum(range(60))}" in done.stdout
    with httpx.Client(base_url=server.url, timeout=30) as api:
        [run] = api.get("/api/flow_runs", params={"flow_name": "gathered"}).json()
        assert run["state"]["name"] == "Completed"
        task_runs = api.get(f"/api/flow_runs/{run['id']}/task_runs").json()
        assert len(task_runs) == 60
        for task_run in task_runs:
            assert task_run["state"]["name"] == "Completed"
            assert task_run["run_count"] == 1
            history = api.get(f"/api/task_runs/{task_run['id']}/state_history").json()
            assert [s["name"] for s in history] == ["Pending", "Running", "Completed"]


def test_bulk_sent_twice_is_stored_once(server: ServerProcess) -> None:
    from legato.ids import new_id

    flow_run_id, task_run_id, now = new_id(), new_id(), time.time()
    state = {"type": "PENDING", "name": "Pending", "timestamp": now}
    row = {
        "id": flow_run_id,
        "flow_name": "twice",
        "name": "twice-run",
        "parameters": {},
        "tags": [],
        "created": now,
    }
    task_run = {
        "id": task_run_id,
        "flow_run_id": flow_run_id,
        "name": "t-0",
        "task_key": "t",
        "dynamic_key": 0,
        "tags": [],
        "state_type": "PENDING",
        "state_name": "Pending",
        "state_timestamp": now,
        "run_count": 0,
        "created": now,
    }
    body = {"task_runs": [task_run], "states": [{**state, "task_run_id": task_run_id}]}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        for _ in range(2):
            created = api.post("/api/orchestrator/flow_runs", json={"row": row, "state": state})
            assert created.status_code == 200, created.text
            answer = api.post("/api/bulk", json=body)
            assert answer.status_code == 200, answer.text
        task_runs = api.get(f"/api/flow_runs/{flow_run_id}/task_runs").json()
        assert [t["id"] for t in task_runs] == [task_run_id]
        unknown = api.post("/api/bulk", json={**body, "task_runs": [], "extra": 1})
        assert unknown.status_code == 422


def test_a_batch_resent_with_its_id_stores_its_states_and_logs_once(
    server: ServerProcess,
) -> None:
    """A client resends a batch whose answer it lost (the server died after the commit,
    or the answer was slow): same batch id, so nothing is stored twice, even when the
    copies arrive at once."""
    from concurrent.futures import ThreadPoolExecutor

    from legato.ids import new_id

    flow_run_id, task_run_id, now = new_id(), new_id(), time.time()
    state = {"type": "PENDING", "name": "Pending", "timestamp": now}
    row = {
        "id": flow_run_id,
        "flow_name": "resent",
        "name": "resent-run",
        "parameters": {},
        "tags": [],
        "created": now,
    }
    task_run = {
        "id": task_run_id,
        "flow_run_id": flow_run_id,
        "name": "t-0",
        "task_key": "t",
        "dynamic_key": 0,
        "tags": [],
        "state_type": "RUNNING",
        "state_name": "Running",
        "state_timestamp": now + 1,
        "run_count": 1,
        "created": now,
    }
    log = {
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "timestamp": now + 1,
        "level": "INFO",
        "logger": "legato.task_runs",
        "message": "once",
    }
    states = [
        {**state, "task_run_id": task_run_id},
        {"type": "RUNNING", "name": "Running", "timestamp": now + 1, "task_run_id": task_run_id},
    ]
    first = {"batch_id": new_id(), "task_runs": [task_run], "states": states, "logs": [log]}
    finished = {**task_run, "state_type": "COMPLETED", "state_name": "Completed"}
    second = {
        "batch_id": new_id(),
        "updates": [finished],
        "states": [
            {
                "type": "COMPLETED",
                "name": "Completed",
                "timestamp": now + 2,
                "task_run_id": task_run_id,
            }
        ],
        "logs": [{**log, "message": "twice", "timestamp": now + 2}],
    }
    with httpx.Client(base_url=server.url, timeout=30) as api:
        assert api.post("/api/orchestrator/flow_runs", json={"row": row, "state": state}).is_success
        for _ in range(3):
            answer = api.post("/api/bulk", json=first)
            assert answer.status_code == 200, answer.text
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: api.post("/api/bulk", json=second), range(8)))
        assert [a.status_code for a in answers] == [200] * 8
        history = api.get(f"/api/task_runs/{task_run_id}/state_history").json()
        assert [s["name"] for s in history] == ["Pending", "Running", "Completed"]
        logs = api.get(f"/api/flow_runs/{flow_run_id}/logs").json()
        assert [line["message"] for line in logs] == ["once", "twice"]
        (stored,) = api.get(f"/api/flow_runs/{flow_run_id}/task_runs").json()
        assert stored["state"]["name"] == "Completed"
    assert "UNIQUE constraint failed" not in server.log()


def test_states_set_through_the_api_keep_the_run_times(server: ServerProcess) -> None:
    """An operator (or, later, a worker) moving a run by hand: Running starts an attempt,
    a final state ends it, as when the engine moves it."""
    from legato.ids import new_id

    run_id, now = new_id(), time.time()
    row = {
        "id": run_id,
        "flow_name": "by-hand",
        "name": "r",
        "parameters": {},
        "tags": [],
        "created": now,
    }
    pending = {"type": "PENDING", "name": "Pending", "timestamp": now}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        assert api.post(
            "/api/orchestrator/flow_runs", json={"row": row, "state": pending}
        ).is_success
        running = api.post(
            f"/api/flow_runs/{run_id}/state", json={"type": "RUNNING", "name": "Running"}
        )
        assert running.status_code == 200, running.text
        started = running.json()
        assert started["run_count"] == 1
        assert started["start_time"] is not None
        assert started["end_time"] is None
        again = api.post(
            f"/api/flow_runs/{run_id}/state", json={"type": "RUNNING", "name": "Running"}
        )
        assert again.json()["run_count"] == 1
        done = api.post(
            f"/api/flow_runs/{run_id}/state",
            json={"type": "CANCELLED", "name": "Cancelled", "message": "stopped by hand"},
        ).json()
        assert done["start_time"] == started["start_time"]
        assert done["end_time"] is not None
        assert done["duration_seconds"] >= 0
        assert done["state"]["message"] == "stopped by hand"
