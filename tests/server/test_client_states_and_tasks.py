"""Client mode: states returned by tasks and flows, and tasks called outside any flow,
are what the server stores.

The flows run in a subprocess with LEGATO_API_URL set, against a real server process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.servers import ServerProcess, running_server

pytestmark = pytest.mark.slow

FLOW_FILE = """
from legato import flow, task
from legato.states import Completed, Failed


@task(retries=1, retry_delay_seconds=0)
def load():
    return Failed(message="bad rows")


@task
def skip():
    return Completed(name="Skipped", message="nothing new")


@flow(name="nightly")
def nightly():
    return [skip.submit(), load.submit()]


@flow(name="quiet")
def quiet():
    return Completed(name="Skipped", message="holiday")


if __name__ == "__main__":
    print("nightly", nightly(return_state=True).message)
    print("quiet", quiet(return_state=True).name)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("client-states")
    with running_server(folder / "server-home", folder / "server.log") as started:
        yield started


def _run_file(tmp_path: Path, server: ServerProcess, text: str) -> str:
    flow_file = tmp_path / "script.py"
    flow_file.write_text(text)
    env = {**os.environ, "LEGATO_HOME": str(tmp_path / "client"), "LEGATO_API_URL": server.url}
    done = subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "could not record" not in done.stderr, done.stderr
    return done.stdout


def _run(api: httpx.Client, flow_name: str) -> dict[str, object]:
    (run,) = api.get("/api/flow_runs", params={"flow_name": flow_name}).json()
    return run  # type: ignore[no-any-return]


def test_returned_states_are_stored_on_the_server(tmp_path: Path, server: ServerProcess) -> None:
    out = _run_file(tmp_path, server, FLOW_FILE)
    assert "nightly 1/2 states failed" in out
    assert "quiet Skipped" in out
    with httpx.Client(base_url=server.url, timeout=30) as api:
        nightly = _run(api, "nightly")
        assert nightly["state"] == {
            **nightly["state"],  # type: ignore[dict-item]
            "type": "FAILED",
            "name": "Failed",
            "message": "1/2 states failed",
        }
        task_runs = {
            t["name"]: t for t in api.get(f"/api/flow_runs/{nightly['id']}/task_runs").json()
        }
        load, skip = task_runs["load-0"], task_runs["skip-0"]
        assert (load["state"]["type"], load["state"]["message"], load["run_count"]) == (
            "FAILED",
            "bad rows",
            2,
        )
        history = api.get(f"/api/task_runs/{load['id']}/state_history").json()
        assert [s["name"] for s in history] == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Failed",
        ]
        assert (skip["state"]["type"], skip["state"]["name"]) == ("COMPLETED", "Skipped")
        quiet = _run(api, "quiet")["state"]
        assert (quiet["type"], quiet["name"], quiet["message"]) == (  # type: ignore[index]
            "COMPLETED",
            "Skipped",
            "holiday",
        )


STANDALONE = """
from legato import get_run_logger, task
from legato.engine.caching import task_input_hash

calls = []


@task(retries=1, retry_delay_seconds=0, cache_key_fn=task_input_hash)
def fetch(n):
    calls.append(n)
    get_run_logger().info("fetching %d", n)
    if len(calls) == 1:
        raise ConnectionError("first try fails")
    return n * 2


first = fetch(21, return_state=True)
again = fetch(21, return_state=True)
print("ids", first.run_id, again.run_id, first.result(), again.result(), len(calls))
"""


def test_a_task_called_outside_a_flow_is_stored_on_the_server(
    tmp_path: Path, server: ServerProcess
) -> None:
    out = _run_file(tmp_path, server, STANDALONE)
    first, again, *values = out.split("ids ", 1)[1].split()
    assert values == ["42", "42", "2"]
    with httpx.Client(base_url=server.url, timeout=30) as api:
        run = api.get(f"/api/task_runs/{first}").json()
        assert (run["flow_run_id"], run["state"]["name"], run["run_count"]) == (
            None,
            "Completed",
            2,
        )
        history = api.get(f"/api/task_runs/{first}/state_history").json()
        assert [s["name"] for s in history] == [
            "Pending",
            "Running",
            "AwaitingRetry",
            "Retrying",
            "Completed",
        ]
        assert api.get(f"/api/task_runs/{again}").json()["state"]["name"] == "Cached"
        # The flow runs listing answers, and holds only flow runs (this module's others).
        listed = api.get("/api/flow_runs")
        assert listed.status_code == 200
        assert {run["flow_name"] for run in listed.json()} <= {"nightly", "quiet"}
