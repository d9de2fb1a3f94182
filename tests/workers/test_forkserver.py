"""The fork launcher, end to end on the embedded store: an in-process worker whose runs
are forked from a real zygote process."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from legato.orchestrator.local import LocalOrchestrator
from legato.schemas import FlowRunRecord
from legato.schemas.deployments import DeploymentRunRequest, DeploymentSpec
from legato.states import TERMINAL_TYPES
from legato.store import Store
from legato.workers.cancel import cancel_flow_run
from legato.workers.worker import Worker, WorkerOptions

FLOWS = textwrap.dedent(
    """
    import os
    import time

    from legato import flow, get_run_logger

    @flow
    def greet(name: str = "world") -> str:
        get_run_logger().info("hello %s", name)
        print(f"printed by {name}", flush=True)
        return name

    @flow
    def sleeper(pid_file: str) -> None:
        with open(pid_file, "w") as file:
            file.write(str(os.getpid()))
        time.sleep(600)

    @flow
    def dies() -> None:
        print("about to die", flush=True)
        os._exit(3)
    """
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="fork launcher: Linux")


class Running:
    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch):
        (folder / "flows.py").write_text(FLOWS)
        home = folder / "home"
        monkeypatch.setenv("LEGATO_HOME", str(home))
        monkeypatch.delenv("LEGATO_API_URL", raising=False)
        self.folder = folder
        self.store = Store(f"sqlite:///{home / 'legato.db'}")
        self.orch = LocalOrchestrator(self.store)
        self.echoed: list[str] = []
        options = WorkerOptions(
            pool="p",
            name="w",
            poll_interval=0.05,
            heartbeat_interval=0.2,
            grace_seconds=5,
            launcher="fork",
        )
        self.worker = Worker(
            self.orch,
            options,
            env={"LEGATO_HOME": str(home)},
            say=self.echoed.append,
            echo=self.echoed.append,
        )
        assert self.worker.launcher_name == "fork"
        self.thread = threading.Thread(target=self.worker.run, daemon=True)
        self.thread.start()

    def run(self, function: str, **parameters: object) -> str:
        spec = DeploymentSpec(
            flow_name=function,
            name="d",
            entrypoint=f"{self.folder / 'flows.py'}:{function}",
            work_pool="p",
        )
        deployment = self.orch.deploy(spec)
        record = self.orch.create_deployment_run(
            deployment.id, DeploymentRunRequest(parameters=dict(parameters))
        )
        return record.id

    def final(self, run_id: str) -> FlowRunRecord:
        deadline = time.monotonic() + 120
        while True:
            record = self.orch.read_flow_run(run_id)
            reaped = f"Flow run {record.name!r} process" in "\n".join(self.echoed)
            if record.state.type in TERMINAL_TYPES and reaped:
                return record
            assert time.monotonic() < deadline, (record.state, self.echoed)
            time.sleep(0.05)


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Running]:
    setup = Running(tmp_path, monkeypatch)
    try:
        yield setup
    finally:
        setup.worker.stop()
        setup.thread.join(timeout=60)
        setup.store.close()
    assert not setup.thread.is_alive()


def test_a_forked_run_completes_with_its_output(running: Running) -> None:
    record = running.final(running.run("greet", name="ann"))
    assert record.state.name == "Completed"
    logs = [(line.logger, line.message) for line in running.orch.read_logs(record.id)]
    assert ("legato.flow_runs", "hello ann") in logs
    assert ("legato.worker.stdout", "printed by ann") in logs
    assert "printed by ann" in running.echoed


def test_a_forked_run_that_dies_is_crashed(running: Running) -> None:
    record = running.final(running.run("dies"))
    assert record.state.name == "Crashed"
    assert record.state.message == "the flow-run process exited with code 3 before the run ended"


def test_cancelling_a_forked_run_kills_it(running: Running) -> None:
    pid_file = running.folder / "sleeper.pid"
    run_id = running.run("sleeper", pid_file=str(pid_file))
    deadline = time.monotonic() + 120
    while running.orch.read_flow_run(run_id).state.name != "Running" or not pid_file.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    cancel_flow_run(running.orch, run_id)
    record = running.final(run_id)
    assert record.state.name == "Cancelled", record.state
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
