"""Crash detection end to end, with real processes: a worker killed with kill -9 mid-run
is found by the server's reaper once its heartbeats stop, its run ends Crashed and, with
deployment retries, runs again under the same id on another worker; a flow process
killed under a living worker goes the same way through the worker. Then the worker that
`legato server start` runs for the `default` pool."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_deployment, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import ServerProcess, running_server, start_server
from fixtures.waiting import wait_until
from fixtures.workers import FAST_REAPER, start_worker
from legato.orchestrator.client import ClientOrchestrator

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from legato import flow


    @flow
    def first_sleeps(marker: str) -> str:
        # The first attempt writes its pid and sleeps until killed; a retry finds the
        # marker and completes.
        path = Path(marker)
        if path.exists():
            return "done on retry"
        path.write_text(str(os.getpid()))
        print("sleeping", flush=True)
        time.sleep(600)
        return "never"


    @flow
    def greet() -> str:
        print("hello from the built-in worker", flush=True)
        return "hi"
    """
)


@dataclass
class Setup:
    folder: Path
    env: dict[str, str]
    server: ServerProcess
    orchestrator: ClientOrchestrator
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)
    """Flow processes left behind by a killed worker, ended after the test."""

    def legato(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=check)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        output = self.folder / f"{name}.log"
        worker = start_worker(self.folder, self.env, "--name", name, output=output)
        self.workers.append(worker)
        return worker

    def run_sleeper(self, deployment: str, retries: int) -> tuple[str, int]:
        """Deploy and run ``first_sleeps``; the run's id and its flow process's pid once
        it is Running."""
        marker = self.folder / f"{deployment}.marker"
        self.legato(
            "deploy",
            "flows.py:first_sleeps",
            "--name",
            deployment,
            "--pool",
            "p",
            "--retries",
            str(retries),
            f"--param=marker={marker}",
        )
        run_id = run_deployment(deployment, env=self.env, cwd=self.folder)
        wait_until(
            lambda: (
                self.orchestrator.read_flow_run(run_id).state.name == "Running"
                and marker.exists()
                and marker.read_text()
            ),
            f"the run of {deployment} did not start",
        )
        pid = int(marker.read_text())
        self.pids.append(pid)
        return run_id, pid

    def history(self, run_id: str) -> list[str]:
        return [s.name for s in self.orchestrator.read_state_history(run_id)]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "flows.py").write_text(FLOWS)
    with running_server(
        tmp_path / "server-home", tmp_path / "server.log", env=FAST_REAPER, stop_timeout=120
    ) as server:
        env = legato_env(tmp_path / "client-home", server.url, **FAST_REAPER)
        orchestrator = ClientOrchestrator(server.url)
        made = Setup(tmp_path, env, server, orchestrator)
        try:
            yield made
        finally:
            for worker in made.workers:
                stop(worker, hurry=True)  # hurry: stop running flows at once
            for pid in made.pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            orchestrator.close()


def test_a_killed_worker_s_run_is_crashed_retried_and_completed(setup: Setup) -> None:
    worker = setup.start_worker("doomed")
    run_id, _pid = setup.run_sleeper("retried", retries=1)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=60)
    wait_until(
        lambda: "AwaitingRetry" in setup.history(run_id), "the reaper did not reschedule the run"
    )
    setup.start_worker("rescuer")
    run = wait_final(setup.orchestrator, run_id)
    assert run.id == run_id
    assert run.state.name == "Completed", run.state
    history = setup.history(run_id)
    assert history[:3] == ["Scheduled", "Pending", "Running"]
    crashed = history.index("Crashed")
    assert history[crashed : crashed + 3] == ["Crashed", "AwaitingRetry", "Pending"]
    assert history[-1] == "Completed"
    states = setup.orchestrator.read_state_history(run_id)
    assert states[crashed].message is not None
    assert states[crashed].message.startswith("worker doomed stopped sending heartbeats")
    row = setup.orchestrator.read_flow_run_row(run_id)
    assert row.worker_name == "rescuer"
    lost = httpx.get(f"{setup.server.url}/api/events", params={"name": "legato.worker.lost"})
    [event] = lost.json()
    assert event["resource"]["legato.resource.id"] == "legato.worker.doomed"
    assert {
        "legato.resource.id": f"legato.flow-run.{run_id}",
        "legato.resource.role": "flow-run",
    } in event["related"]


def test_without_retries_the_run_stays_crashed_naming_the_worker(setup: Setup) -> None:
    worker = setup.start_worker("lost")
    run_id, _pid = setup.run_sleeper("once", retries=0)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=60)
    run = wait_final(setup.orchestrator, run_id)
    assert run.state.name == "Crashed"
    assert run.state.message is not None
    assert run.state.message.startswith("worker lost stopped sending heartbeats (last ")
    assert setup.history(run_id)[-1] == "Crashed"
    assert "AwaitingRetry" not in setup.history(run_id)


def test_a_killed_flow_process_is_crashed_by_its_worker_and_retried(setup: Setup) -> None:
    setup.start_worker("steady")
    run_id, pid = setup.run_sleeper("flowdies", retries=1)
    os.kill(pid, signal.SIGKILL)
    run = wait_final(setup.orchestrator, run_id)
    assert run.state.name == "Completed", run.state
    states = setup.orchestrator.read_state_history(run_id)
    names = [s.name for s in states]
    crashed = names.index("Crashed")
    assert names[crashed : crashed + 2] == ["Crashed", "AwaitingRetry"]
    assert states[crashed].message == (
        "the flow-run process was killed by signal SIGKILL before the run ended"
    )
    assert names.count("Crashed") == 1


@pytest.mark.parametrize("worker", [True, False], ids=["with-worker", "no-worker"])
def test_the_server_runs_a_worker_for_the_default_pool(tmp_path: Path, worker: bool) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    server = start_server(
        tmp_path / "home",
        tmp_path / "server.log",
        worker=worker,
        env={"LEGATO_WORKER_POLL_INTERVAL": "0.1"},
    )
    env = legato_env(tmp_path / "client-home", server.url)
    orchestrator = ClientOrchestrator(server.url)

    def legato(*args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=env, cwd=tmp_path)

    try:
        assert legato("deploy", "flows.py:greet", "--name", "d").returncode == 0
        if worker:
            done = legato("deployment", "run", "d", "--watch")
            assert done.returncode == 0, done.stdout + done.stderr
            assert "Completed" in done.stdout
            [run] = orchestrator.read_flow_runs(flow_name="greet")
            assert run.state.name == "Completed" and run.work_pool == "default"
        else:
            created = legato("deployment", "run", "d", "--json")
            run_id = json.loads(created.stdout)["id"]
            time.sleep(3)  # many worker polls
            assert orchestrator.read_flow_run(run_id).state.name == "Scheduled"
    finally:
        orchestrator.close()
        code = server.stop(timeout=120)
    log = server.log()
    assert code == 0, log
    if worker:
        assert "[worker] Worker " in log and "started: pool 'default'" in log
        assert "[worker] hello from the built-in worker" in log
        assert "[worker] Worker " in log and " stopped" in log
    else:
        assert "[worker]" not in log


def test_the_built_in_worker_gets_in_when_keys_are_required(tmp_path: Path) -> None:
    """The store holds an API key (so every request needs one); the server's own worker
    is let in by an internal key the server stores while it runs and deletes when it
    stops; its flow run gets in with its run's credential."""
    from legato.store import Store

    (tmp_path / "flows.py").write_text(FLOWS)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'legato.db'}")
    try:
        _, key = store.create_api_key("operator")
    finally:
        store.close()
    server = start_server(
        tmp_path / "home",
        tmp_path / "server.log",
        worker=True,
        env={"LEGATO_WORKER_POLL_INTERVAL": "0.1"},
    )
    env = legato_env(tmp_path / "client-home", server.url, LEGATO_API_KEY=key)

    def legato(*args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=env, cwd=tmp_path)

    try:
        assert legato("deploy", "flows.py:greet", "--name", "d").returncode == 0
        done = legato("deployment", "run", "d", "--watch")
        assert done.returncode == 0, done.stdout + done.stderr + server.log()
        assert "Completed" in done.stdout
    finally:
        code = server.stop(timeout=120)
    assert code == 0, server.log()
    assert '" 401 ' not in server.log()  # no request refused (a run id may hold 401)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'legato.db'}")
    try:
        assert [record.name for record in store.list_api_keys()] == ["operator"]
    finally:
        store.close()


def test_a_frozen_worker_that_wakes_up_kills_the_run_it_lost(setup: Setup) -> None:
    """A worker stalls (SIGSTOP) past the heartbeat timeout: the reaper takes its run
    back. The run's process hears it (it asks every heartbeat interval) and stops; had it
    not, the worker's next heartbeat once it runs again would show the run is not its own
    and it would kill that copy. Either way without a word to the server, so the Crashed
    state the reaper wrote stays as it is."""
    worker = setup.start_worker("frozen")
    run_id, pid = setup.run_sleeper("stalled", retries=0)
    os.kill(worker.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: "Crashed" in setup.history(run_id), "the reaper did not crash it")
    finally:
        os.kill(worker.pid, signal.SIGCONT)

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False

    wait_until(gone, "the woken worker did not kill the run it lost")
    log = (setup.folder / "frozen.log").read_text()
    reasons = ("no longer held by this worker; killing it", "its run was taken back from it")
    wait_until(
        lambda: any(reason in (setup.folder / "frozen.log").read_text() for reason in reasons),
        "the worker did not say why",
    )
    time.sleep(1.0)  # room for any late write from the worker or the killed process
    history = setup.history(run_id)
    assert history.count("Crashed") == 1, history
    run = setup.orchestrator.read_flow_run(run_id)
    assert run.state.name == "Crashed"
    assert run.state.message is not None
    assert run.state.message.startswith("worker frozen stopped sending heartbeats"), log
