"""Workers are woken by the server: with a poll interval of 30 s, a run triggered now, or
due in a moment, starts long before the worker's next poll would have found it."""

from __future__ import annotations

import json
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import start_server
from fixtures.workers import start_worker
from legato.orchestrator.client import ClientOrchestrator
from legato.schemas.deployments import DeploymentRunRequest

pytestmark = pytest.mark.slow

POLL = 30.0
FLOWS = textwrap.dedent(
    """
    from legato import flow

    @flow
    def hello() -> str:
        print("hello from the flow", flush=True)
        return "hi"
    """
)


def test_a_triggered_run_starts_before_the_next_poll(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    server = start_server(tmp_path / "server-home", tmp_path / "server.log")
    env = legato_env(tmp_path / "client-home", server.url, LEGATO_WORKER_POLL_INTERVAL=str(POLL))
    log = tmp_path / "worker.log"

    def legato(*args: str) -> str:
        return run_legato(*args, env=env, cwd=tmp_path, check=True).stdout

    legato("deploy", "flows.py:hello", "--name", "d", "--pool", "p")
    client = ClientOrchestrator(server.url)
    worker = start_worker(tmp_path, env, "--name", "w", output=log)
    try:
        deadline = time.monotonic() + 60
        while "started: pool" not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert f"woken by the server every {POLL:g}s at most" in log.read_text()
        time.sleep(1.0)  # its first claim found nothing and now waits on the server

        triggered = time.time()
        run_id = json.loads(legato("deployment", "run", "hello/d", "--json"))["id"]
        wait_final(client, run_id)
        run = client.read_flow_run(run_id)
        assert run.state.name == "Completed"
        assert run.start_time is not None
        assert run.start_time.timestamp() - triggered < POLL, "found by polling, not woken"

        # A run due shortly: the waiting claim wakes at its due time, not at the next poll.
        deployment = client.read_deployment("hello/d")
        due = datetime.now(UTC) + timedelta(seconds=2)
        later = client.create_deployment_run(
            deployment.id, DeploymentRunRequest(scheduled_time=due)
        )
        wait_final(client, later.id)
        record = client.read_flow_run(later.id)
        assert record.state.name == "Completed"
        assert record.start_time is not None
        assert record.start_time >= due - timedelta(seconds=0.5)  # not before it was due
        assert record.start_time.timestamp() - due.timestamp() < POLL
        # The flow's printed line reaches the logs through its worker, which stores a
        # process's output as it reads it: just after the run went final, at the latest
        # when the process exits.
        deadline = time.monotonic() + 30
        while "hello from the flow" not in [m.message for m in client.read_logs(later.id)]:
            assert time.monotonic() < deadline, [m.message for m in client.read_logs(later.id)]
            time.sleep(0.1)
    finally:
        code = stop(worker)
        client.close()
        assert server.stop() == 0, server.log()
    assert code == 0, log.read_text()
    assert "Worker 'w' stopped" in log.read_text()
