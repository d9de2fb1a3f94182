"""Workers end to end: a real server process, `legato deploy`, `legato deployment run`,
and a real `legato worker start` process running each run in a subprocess; then the
same with the embedded store and no server."""

from __future__ import annotations

import os
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_deployment, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import running_server
from fixtures.waiting import wait_until
from fixtures.workers import FAST_WORKER, start_worker
from legato.orchestrator.client import ClientOrchestrator
from legato.orchestrator.local import LocalOrchestrator
from legato.orchestrator.protocol import Orchestrator
from legato.schemas import FlowRunRecord
from legato.store import Store

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import os
    import time
    from datetime import datetime

    from legato import flow, get_run_logger


    @flow
    def greet(name: str = "world") -> str:
        get_run_logger().info("hello %s", name)
        print(f"printed by {name}")
        return name


    @flow
    def dated(when: datetime) -> str:
        return when.isoformat()


    @flow
    def sleeper(pid_file: str) -> None:
        with open(pid_file, "w") as file:
            file.write(str(os.getpid()))
        print("sleeping", flush=True)
        time.sleep(600)


    @flow
    def dies() -> None:
        print("about to die", flush=True)
        os._exit(3)
    """
)


@dataclass
class Setup:
    """Where the flows are, the environment every `legato` command runs with, the worker."""

    folder: Path
    env: dict[str, str]
    orchestrator: Orchestrator
    worker: subprocess.Popen[bytes]
    worker_output: Path

    def legato(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=check)

    def deploy_and_run(self, function: str, *params: str) -> FlowRunRecord:
        self.legato("deploy", f"flows.py:{function}", "--name", "d", "--pool", "p")
        run_id = run_deployment(f"{function}/d", *params, env=self.env, cwd=self.folder)
        record = wait_final(self.orchestrator, run_id)
        self.wait_reaped(record)
        return self.orchestrator.read_flow_run(record.id)

    def wait_reaped(self, run: FlowRunRecord) -> None:
        """The run ends before its process does; the worker stores the process's last
        lines (and a crash) once it has seen the process end."""
        deadline = time.monotonic() + 120
        while f"Flow run {run.name!r} process" not in self.worker_output.read_text():
            assert time.monotonic() < deadline, self.worker_output.read_text()
            assert self.worker.poll() is None, self.worker_output.read_text()
            time.sleep(0.05)

    def stop_worker(self) -> int:
        return stop(self.worker)


def start_w1(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
    output = folder / "worker.log"
    return start_worker(folder, env, "--name", "w1", output=output), output


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A server, and a worker of pool ``p`` talking to it, for the whole module."""
    folder = tmp_path_factory.mktemp("worker-served")
    (folder / "flows.py").write_text(FLOWS)
    with running_server(folder / "server-home", folder / "server.log") as server:
        env = legato_env(folder / "client-home", server.url, **FAST_WORKER)
        worker, output = start_w1(folder, env)
        orchestrator = ClientOrchestrator(server.url)
        setup = Setup(folder, env, orchestrator, worker, output)
        try:
            yield setup
        finally:
            code = setup.stop_worker()
            orchestrator.close()
        assert code == 0, output.read_text()


def messages(orchestrator: Orchestrator, run: FlowRunRecord) -> list[tuple[str, str]]:
    return [(line.logger, line.message) for line in orchestrator.read_logs(run.id)]


def test_a_deployment_run_completes_with_its_logs_and_output(served: Setup) -> None:
    run = served.deploy_and_run("greet", "name=ann")
    assert run.state.name == "Completed", run.state
    history = [s.name for s in served.orchestrator.read_state_history(run.id)]
    assert history == ["Scheduled", "Pending", "Running", "Completed"]
    assert run.run_count == 1 and run.start_time is not None and run.end_time is not None
    logs = messages(served.orchestrator, run)
    assert ("legato.flow_runs", "hello ann") in logs
    assert ("legato.worker.stdout", "printed by ann") in logs
    # run loggers' own lines are stored once, by the flow process
    assert not any("hello ann" in m for logger, m in logs if logger.startswith("legato.worker"))
    echoed = served.worker_output.read_text()
    assert "printed by ann" in echoed and "hello ann" in echoed
    assert f"({run.id})" in echoed


def test_a_parameter_the_flow_rejects_ends_the_run_failed(served: Setup) -> None:
    run = served.deploy_and_run("dated", "when=not-a-date")
    assert run.state.name == "Failed"
    assert run.state.message is not None and "when" in run.state.message
    history = [s.name for s in served.orchestrator.read_state_history(run.id)]
    assert history == ["Scheduled", "Pending", "Failed"]


def test_a_process_that_dies_ends_the_run_crashed(served: Setup) -> None:
    run = served.deploy_and_run("dies")
    assert run.state.name == "Crashed"
    assert run.state.message == "the flow-run process exited with code 3 before the run ended"
    assert ("legato.worker.stdout", "about to die") in messages(served.orchestrator, run)


def test_execute_refuses_a_run_that_ended(served: Setup) -> None:
    run = served.deploy_and_run("greet")
    done = served.legato("flow-run", "execute", run.id, check=False)
    assert done.returncode == 1
    assert "is Completed; only a Scheduled or Pending flow run can be executed" in done.stderr
    assert served.orchestrator.read_flow_run(run.id).state.name == "Completed"


def test_the_embedded_store_works_without_a_server(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    env = legato_env(tmp_path / "home", **FAST_WORKER)
    worker, output = start_w1(tmp_path, env)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'legato.db'}")
    setup = Setup(tmp_path, env, LocalOrchestrator(store), worker, output)
    try:
        run = setup.deploy_and_run("greet", "name=bo")
        assert run.state.name == "Completed"
        logs = messages(setup.orchestrator, run)
        assert ("legato.flow_runs", "hello bo") in logs
        assert ("legato.worker.stdout", "printed by bo") in logs
    finally:
        code = setup.stop_worker()
        store.close()
    assert code == 0, output.read_text()
    assert "Worker 'w1' stopped" in output.read_text()


def test_cancelling_a_running_run_stops_its_process(served: Setup) -> None:
    pid_file = served.folder / "sleeper.pid"
    served.legato("deploy", "flows.py:sleeper", "--name", "d", "--pool", "p")
    run_id = run_deployment("sleeper/d", f"pid_file={pid_file}", env=served.env, cwd=served.folder)
    wait_until(
        lambda: (
            served.orchestrator.read_flow_run(run_id).state.name == "Running" and pid_file.exists()
        ),
        "the sleeper did not start",
    )
    pid = int(pid_file.read_text())
    out = served.legato("runs", "cancel", run_id)
    assert "Cancelling" in out.stdout
    run = wait_final(served.orchestrator, run_id)
    served.wait_reaped(run)
    run = served.orchestrator.read_flow_run(run_id)
    assert run.state.name == "Cancelled", run.state
    history = [s.name for s in served.orchestrator.read_state_history(run_id)]
    assert history[-2:] == ["Cancelling", "Cancelled"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again = served.legato("runs", "cancel", run_id, check=False)
    assert again.returncode == 1 and "is Cancelled already" in again.stderr


def test_cancelling_a_run_not_yet_due_is_immediate(served: Setup) -> None:
    from datetime import UTC, datetime, timedelta

    from legato.schemas.deployments import DeploymentRunRequest

    served.legato("deploy", "flows.py:greet", "--name", "d", "--pool", "p")
    deployment = served.orchestrator.read_deployment("greet/d")
    later = datetime.now(UTC) + timedelta(hours=1)
    run = served.orchestrator.create_deployment_run(
        deployment.id, DeploymentRunRequest(scheduled_time=later)
    )
    served.legato("runs", "cancel", run.id)
    record = served.orchestrator.read_flow_run(run.id)
    assert (record.state.name, record.state.message) == ("Cancelled", "cancelled before it ran")
