"""Cancelling a deployment's running run: a real server, a real `legato worker start`
process, `legato runs cancel` from the CLI; then what is stored.

The worker heartbeats only every 1000 s here (and the server waits as long before it
takes a quiet worker for dead), so the run is stopped only if the worker learns of
the cancel between heartbeats, as it must.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

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
    import os
    import time

    from legato import flow, task


    @task
    def long_sleep(pid_file: str) -> None:
        with open(pid_file, "w") as file:
            file.write(str(os.getpid()))
        time.sleep(600)


    @flow
    def slow_etl(folder: str) -> None:
        behind = long_sleep.submit(os.path.join(folder, "submitted.pid"))
        long_sleep(os.path.join(folder, "inline.pid"))
        behind.result()
    """
)

QUIET = {"LEGATO_WORKER_HEARTBEAT_INTERVAL": "1000", "LEGATO_HEARTBEAT_TIMEOUT": "5000"}


@dataclass
class Served:
    folder: Path
    env: dict[str, str]
    orchestrator: ClientOrchestrator
    worker_output: Path

    def legato(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=check)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    (tmp_path / "flows.py").write_text(FLOWS)
    with running_server(tmp_path / "server-home", tmp_path / "server.log", env=QUIET) as server:
        env = legato_env(
            tmp_path / "client-home", server.url, LEGATO_WORKER_POLL_INTERVAL="0.1", **QUIET
        )
        output = tmp_path / "worker.log"
        worker = start_worker(tmp_path, env, "--name", "w1", output=output)
        orchestrator = ClientOrchestrator(server.url)
        try:
            yield Served(tmp_path, env, orchestrator, output)
        finally:
            code = stop(worker)
            orchestrator.close()
        assert code == 0, output.read_text()


def test_cancelling_a_running_run_ends_it_and_its_task_runs_cancelled(served: Served) -> None:
    served.legato("deploy", "flows.py:slow_etl", "--name", "d", "--pool", "p")
    run_id = run_deployment(
        "slow-etl/d", f"folder={served.folder}", env=served.env, cwd=served.folder
    )
    pid_files = [served.folder / "inline.pid", served.folder / "submitted.pid"]
    wait_until(
        lambda: all(p.exists() and p.read_text() for p in pid_files),
        "the tasks did not start",
    )
    out = served.legato("runs", "cancel", run_id, "--reason", "superseded by a newer load")
    assert "Cancelling" in out.stdout

    run = wait_final(served.orchestrator, run_id)

    assert (run.state.name, run.state.message) == ("Cancelled", "superseded by a newer load")
    history = [s.name for s in served.orchestrator.read_state_history(run_id)]
    assert history[-2:] == ["Cancelling", "Cancelled"]
    task_runs = {t.name: t for t in served.orchestrator.read_task_runs(run_id)}
    assert sorted(task_runs) == ["long_sleep-0", "long_sleep-1"]
    for task_run in task_runs.values():
        assert (task_run.state.type, task_run.state.name, task_run.state.message) == (
            "CANCELLED",
            "Cancelled",
            "superseded by a newer load",
        )
    pid = int(pid_files[0].read_text())
    wait_until(lambda: not _alive(pid), "the run's process is still alive")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
