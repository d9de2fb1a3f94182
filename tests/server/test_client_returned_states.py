"""Client mode: states returned by tasks and flows are what the server stores.

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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path / "server-home", tmp_path / "server.log") as started:
        yield started


def _run(api: httpx.Client, flow_name: str) -> dict[str, object]:
    (run,) = api.get("/api/flow_runs", params={"flow_name": flow_name}).json()
    return run  # type: ignore[no-any-return]


def test_returned_states_are_stored_on_the_server(tmp_path: Path, server: ServerProcess) -> None:
    flow_file = tmp_path / "returns.py"
    flow_file.write_text(FLOW_FILE)
    env = {**os.environ, "LEGATO_HOME": str(tmp_path / "client"), "LEGATO_API_URL": server.url}
    done = subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "nightly 1/2 states failed" in done.stdout
    assert "quiet Skipped" in done.stdout
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
