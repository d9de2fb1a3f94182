"""State hooks of flows run against a real server: in a flow process in client mode, in a
deployment's run launched by a real `legato worker start`, and when `legato runs cancel`
stops such a run. The hooks write what they were told to a file; the test reads it and
what the server stored."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.commands import legato_env, run_deployment, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import running_server
from fixtures.waiting import wait_until
from fixtures.workers import start_worker
from legato.orchestrator.client import ClientOrchestrator

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import json
    import os
    import sys
    import time

    from legato import FlowRunInfo, flow, task


    def note(label):
        def hook(definition, run, state):
            info = run if isinstance(run, FlowRunInfo) else run.flow_run
            line = {
                "hook": label,
                "definition": definition.name,
                "run_id": run.id,
                "state": state.name,
                "message": state.message,
            }
            with open(os.path.join(info.parameters["folder"], "hooks.jsonl"), "a") as file:
                file.write(json.dumps(line) + "\\n")

        return hook


    def broken(definition, run, state):
        raise RuntimeError("the hook broke")


    @task(retries=1, on_running=[note("task running")], on_failure=[note("task failed")])
    def flaky():
        raise ValueError("flaky")


    @flow(on_running=[note("flow running")], on_failure=[broken, note("flow failed")])
    def failing(folder: str):
        flaky()


    @task
    def long_sleep(folder):
        open(os.path.join(folder, "started"), "w").close()
        time.sleep(600)


    @flow(on_cancellation=[note("cancelled")], on_crashed=[note("crashed")])
    def slow(folder: str):
        long_sleep(folder)


    if __name__ == "__main__":
        failing(sys.argv[1])
    """
)

QUIET = {"LEGATO_WORKER_HEARTBEAT_INTERVAL": "1000", "LEGATO_HEARTBEAT_TIMEOUT": "5000"}


@dataclass
class Served:
    folder: Path
    url: str
    env: dict[str, str]
    orchestrator: ClientOrchestrator

    def legato(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=True)

    def hooks(self) -> list[dict[str, Any]]:
        path = self.folder / "hooks.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "flows.py").write_text(FLOWS)
    with running_server(tmp_path / "server-home", tmp_path / "server.log", env=QUIET) as server:
        env = legato_env(
            tmp_path / "client-home", server.url, LEGATO_WORKER_POLL_INTERVAL="0.1", **QUIET
        )
        orchestrator = ClientOrchestrator(server.url)
        try:
            yield Served(tmp_path, server.url, env, orchestrator)
        finally:
            orchestrator.close()


def _assert_failing_hooks(served: Served, run_id: str) -> None:
    """What the hooks of ``failing`` wrote, and the server stored, for run ``run_id``."""
    run = wait_final(served.orchestrator, run_id)
    assert run.state.name == "Failed"
    (task_run,) = served.orchestrator.read_task_runs(run_id)
    assert task_run.state.name == "Failed"
    assert [(h["hook"], h["state"], h["run_id"]) for h in served.hooks()] == [
        ("flow running", "Running", run_id),
        ("task running", "Running", task_run.id),
        ("task running", "Retrying", task_run.id),
        ("task failed", "Failed", task_run.id),
        ("flow failed", "Failed", run_id),
    ]
    assert served.hooks()[-1]["message"] == "ValueError: flaky"


def test_hooks_run_in_a_client_mode_flow_process_and_their_errors_are_stored(
    served: Served,
) -> None:
    done = subprocess.run(
        [sys.executable, "flows.py", str(served.folder)],
        env=served.env,
        cwd=served.folder,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "ValueError: flaky" in done.stderr
    (run,) = served.orchestrator.read_flow_runs(flow_name="failing")
    _assert_failing_hooks(served, run.id)
    lines = [
        line
        for line in served.orchestrator.read_logs(run.id)
        if line.message.startswith("State hook 'broken'")
    ]
    assert [line.level for line in lines] == ["ERROR"]
    assert "(on_failure) failed on flow run" in lines[0].message
    assert "RuntimeError: the hook broke" in lines[0].message


def test_hooks_run_in_a_deployment_run_launched_by_a_worker(served: Served) -> None:
    served.legato("deploy", "flows.py:failing", "--name", "d", "--pool", "p")
    output = served.folder / "worker.log"
    worker = start_worker(served.folder, served.env, "--name", "w1", output=output)
    try:
        run_id = run_deployment(
            "failing/d", f"folder={served.folder}", env=served.env, cwd=served.folder
        )
        _assert_failing_hooks(served, run_id)
        wait_until(lambda: "the hook broke" in output.read_text(), "no hook error shown")
    finally:
        code = stop(worker)
    assert code == 0, output.read_text()
    assert served.orchestrator.read_flow_run(run_id).state.name == "Failed"


def test_on_cancellation_runs_when_a_worker_stops_a_cancelled_run(served: Served) -> None:
    served.legato("deploy", "flows.py:slow", "--name", "d", "--pool", "p")
    output = served.folder / "worker.log"
    worker = start_worker(served.folder, served.env, "--name", "w1", output=output)
    try:
        run_id = run_deployment(
            "slow/d", f"folder={served.folder}", env=served.env, cwd=served.folder
        )
        wait_until(lambda: (served.folder / "started").exists(), "the task did not start")
        served.legato("runs", "cancel", run_id, "--reason", "not needed today")
        run = wait_final(served.orchestrator, run_id)
        wait_until(lambda: served.hooks(), "the hook did not run")
    finally:
        code = stop(worker)
    assert code == 0, output.read_text()

    assert (run.state.name, run.state.message) == ("Cancelled", "not needed today")
    assert served.hooks() == [
        {
            "hook": "cancelled",
            "definition": "slow",
            "run_id": run_id,
            "state": "Cancelled",
            "message": "not needed today",
        }
    ]
