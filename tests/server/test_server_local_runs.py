"""The server's reaper crashes the run of a flow process on its host that was killed
outright (kill -9): a flow sharing the server's store (embedded), or one sending its
records to the server (client mode). A flow process that is alive is never touched."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.postgres import PostgresServer
from fixtures.servers import ServerProcess, running_server, start_server
from fixtures.waiting import wait_until

pytestmark = pytest.mark.slow

BLOCKING_FLOW = """
import json
import os
import sys
import time
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


@task
def block(label: str) -> None:
    ctx = get_run_context()
    marker = {"flow_run_id": ctx.flow_run.flow_run_id, "task_run_id": ctx.task_run_id}
    (HERE / f"{label}.tmp").write_text(json.dumps(marker))
    (HERE / f"{label}.tmp").rename(HERE / f"{label}.json")
    time.sleep(120)


@flow
def blocking(label: str) -> None:
    block(label)


if __name__ == "__main__":
    blocking(sys.argv[1])
"""

MODES = [
    "embedded-sqlite",
    "client-sqlite",
    pytest.param("client-postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=MODES)
def setup(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """A server reaping every 0.2 s, and the environment of a flow process for the mode."""
    mode, backend = str(request.param).split("-")
    home = tmp_path / "home"
    with contextlib.ExitStack() as stack:
        database_url = None
        if backend == "postgres":
            postgres: PostgresServer = request.getfixturevalue("postgres_server")
            database_url = stack.enter_context(postgres.database())
        server = stack.enter_context(
            running_server(
                home,
                tmp_path / "server.log",
                database_url,
                env={"LEGATO_REAPER_INTERVAL": "0.2"},
            )
        )
        if mode == "embedded":
            env = legato_env(home, PYTHONUNBUFFERED="1")  # the server's own store
        else:
            env = legato_env(tmp_path / "client-home", server.url, PYTHONUNBUFFERED="1")
        yield server, env


def start_flow(folder: Path, label: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    path = folder / "blocking.py"
    path.write_text(BLOCKING_FLOW)
    with open(folder / f"{label}.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, str(path), label],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def wait_for(check: Any, what: str, timeout: float = 60) -> Any:
    return wait_until(check, what, timeout, interval=0.1)


def test_the_reaper_crashes_a_killed_flow_process_and_leaves_a_live_one_alone(
    setup: tuple[ServerProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, env = setup
    folder = tmp_path / "flows"
    folder.mkdir()
    killed = start_flow(folder, "killed", env)
    alive = start_flow(folder, "alive", env)
    api = httpx.Client(base_url=server.url, timeout=30)
    try:
        markers = {}
        for label in ("killed", "alive"):
            marker = folder / f"{label}.json"
            wait_for(marker.exists, f"the {label} flow to block: {(folder / f'{label}.err')}")
            markers[label] = json.loads(marker.read_text())

        def flow_run(label: str) -> dict[str, Any]:
            answer = api.get(f"/api/flow_runs/{markers[label]['flow_run_id']}")
            assert answer.status_code == 200, answer.text
            record: dict[str, Any] = answer.json()
            return record

        def task_run(label: str) -> dict[str, Any]:
            answer = api.get(f"/api/task_runs/{markers[label]['task_run_id']}")
            assert answer.status_code == 200, answer.text
            record: dict[str, Any] = answer.json()
            return record

        def task_stored() -> bool:
            answer = api.get(f"/api/task_runs/{markers['killed']['task_run_id']}")
            return answer.status_code == 200 and answer.json()["state"]["name"] == "Running"

        wait_for(task_stored, "the blocking task run to be stored")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)

        wait_for(
            lambda: flow_run("killed")["state"]["name"] == "Crashed",
            f"the reaper to crash the killed run\n{server.log()}",
        )

        gone = f"the process that ran it (pid {killed.pid} on {socket.gethostname()}) is gone"
        assert flow_run("killed")["state"]["message"] == gone
        assert task_run("killed")["state"]["name"] == "Crashed"
        assert task_run("killed")["state"]["message"] == f"the flow run crashed: {gone}"
        assert flow_run("alive")["state"]["name"] == "Running"
        assert task_run("alive")["state"]["name"] == "Running"
        assert alive.poll() is None
        assert f"flow run {markers['killed']['flow_run_id']} is Crashed" in server.log()
    finally:
        api.close()
        for process in (killed, alive):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def test_runs_retry_of_a_killed_client_mode_flow_says_its_process_is_gone_before_the_reaper(
    tmp_path: Path,
) -> None:
    """Through a server, reading the run does not crash it (the reaper does, on its next
    pass): `legato runs retry` said the dead process 'is running it'."""
    server = start_server(
        tmp_path / "home", tmp_path / "server.log", env={"LEGATO_REAPER_INTERVAL": "3600"}
    )
    env = legato_env(tmp_path / "client-home", server.url)
    folder = tmp_path / "flows"
    folder.mkdir()
    killed = start_flow(folder, "killed", env)
    try:
        marker = folder / "killed.json"
        wait_for(marker.exists, f"the flow to block: {(folder / 'killed.err')}")
        flow_run_id = json.loads(marker.read_text())["flow_run_id"]
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        retried = run_legato("runs", "retry", flow_run_id, env=env, timeout=60)
        state = httpx.get(f"{server.url}/api/flow_runs/{flow_run_id}", timeout=30).json()
    finally:
        if killed.poll() is None:
            killed.kill()
        killed.wait(timeout=30)
        server.stop()
    assert state["state"]["name"] == "Running"  # the reaper has not passed yet
    assert retried.returncode == 1
    gone = f"the process that ran it (pid {killed.pid} on {socket.gethostname()}) is gone"
    assert gone in retried.stderr
    assert "is running it" not in retried.stderr
    assert "reaper" in retried.stderr
