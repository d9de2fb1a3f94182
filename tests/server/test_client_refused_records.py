"""Client mode: a record the server refuses (422) costs only that record.

A task whose name is longer than the server takes: the rest of its batch is
recorded, the run completes, and the loss is named in the run's logs.
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

FLOW = """
from legato import flow, get_run_logger, task


@task(name="n" * 300)
def long_named(i: int) -> int:
    return i


@task
def count(i: int) -> int:
    get_run_logger().info("counted %d", i)
    return i


@flow
def refused() -> int:
    return sum(f.result() for f in count.map(range(40))) + long_named(10)


if __name__ == "__main__":
    state = refused(return_state=True)
    print("final", state.name, state.result())
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(tmp_path / "server-home", tmp_path / "server.log") as started:
        yield started


def test_a_record_the_server_refuses_costs_only_that_record(
    server: ServerProcess, tmp_path: Path
) -> None:
    flow_file = tmp_path / "refused.py"
    flow_file.write_text(FLOW)
    env = {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "client-home"),
        "LEGATO_API_URL": server.url,
    }
    done = subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"final Completed {sum(range(40)) + 10}" in done.stdout
    assert "legato could not record task run" in done.stderr

    with httpx.Client(base_url=server.url, timeout=60) as api:
        (run,) = api.get("/api/flow_runs", params={"flow_name": "refused"}).json()
        assert run["state"]["name"] == "Completed"
        task_runs = api.get(f"/api/flow_runs/{run['id']}/task_runs").json()
        assert sorted(t["name"] for t in task_runs) == sorted(f"count-{i}" for i in range(40))
        lines = api.get(f"/api/flow_runs/{run['id']}/logs").json()
    assert sum(1 for line in lines if line["message"].startswith("counted ")) == 40
    (note,) = [line for line in lines if line["logger"] == "legato.client"]
    assert note["level"] == "ERROR"
    assert note["message"].startswith("legato could not record task run ")
    assert "HTTP 422" in note["message"]
