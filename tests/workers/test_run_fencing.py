"""A flow run never runs twice at once, with real processes on SQLite and PostgreSQL.

A worker killed with kill -9 mid-run takes its flow process with it (both launchers),
so when the reaper gives the run to a second worker, the first attempt's body is not
running any more: the lines the flow appends show the attempts one after the other.
And a process that did outlive its claim (started here by hand with the attempt's
token, as an orphan would have it) is refused once its run is taken back: it stops on
its own, and its later reports never land on the run's next attempt.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_deployment, run_legato, start_legato
from fixtures.postgres import BACKENDS
from fixtures.processes import alive, stop
from fixtures.runs import wait_final
from fixtures.servers import ServerProcess, backend_home, running_server
from fixtures.waiting import wait_until
from fixtures.workers import FAST_REAPER
from legato.attempts import RUN_TOKEN_VARIABLE
from legato.orchestrator.client import ClientOrchestrator
from legato.states import State, StateType
from legato.workers.execute import EXIT_TAKEN_BACK

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import os
    import time

    from legato import flow


    def note(path, text):
        with open(path, "a") as out:
            out.write(f"{os.getpid()} {text}\\n")


    @flow
    def ticker(path: str, seconds: float) -> str:
        # One line when the body starts, then one every 0.1 s: two bodies running at
        # once would interleave their lines. A retry (a start is written already) is short.
        again = os.path.exists(path)
        note(path, "start")
        end = time.monotonic() + (1.0 if again else seconds)
        while time.monotonic() < end:
            note(path, "tick")
            time.sleep(0.1)
        note(path, "end")
        return "done"


    @flow(log_prints=True)
    def chatty(path: str, seconds: float) -> str:
        # Prints as it goes: each line is sent to the server (its run's credential),
        # so a process whose run was taken back hears it within a batch.
        note(path, "start")
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            print("still here", flush=True)
            note(path, "tick")
            time.sleep(0.1)
        note(path, "end")
        return "done"
    """
)


@dataclass
class Setup:
    folder: Path
    env: dict[str, str]
    server: ServerProcess
    orchestrator: ClientOrchestrator
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def legato(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=True)

    def start(self, args: list[str], output: str, env: dict[str, str] | None = None) -> Popen:
        process = start_legato(
            args, env=env or self.env, cwd=self.folder, output=self.folder / output
        )
        self.processes.append(process)
        return process

    def start_worker(self, name: str, launcher: str) -> Popen:
        command = ["worker", "start", "--pool", "p", "--name", name, "--launcher", launcher]
        return self.start(command, f"{name}.log")

    def deploy_and_run(self, flow: str, lines: Path, seconds: float) -> str:
        self.legato(
            "deploy",
            f"flows.py:{flow}",
            "--name",
            flow,
            "--pool",
            "p",
            "--retries",
            "1",
            f"--param=path={lines}",
            f"--param=seconds={seconds}",
        )
        return run_deployment(flow, env=self.env, cwd=self.folder)

    def history(self, run_id: str) -> list[str]:
        return [s.name for s in self.orchestrator.read_state_history(run_id)]


Popen = subprocess.Popen[bytes]


def lines_of(path: Path) -> list[tuple[int, str]]:
    if not path.exists():
        return []
    return [
        (int(pid), text)
        for pid, text in (line.split(" ", 1) for line in path.read_text().splitlines())
    ]


def assert_one_body_at_a_time(lines: list[tuple[int, str]]) -> list[int]:
    """The pids of the bodies, in order; fails if one body wrote after the next began."""
    order: list[int] = []
    for pid, _ in lines:
        if not order or order[-1] != pid:
            assert pid not in order, f"process {pid} ran on after another attempt began: {lines}"
            order.append(pid)
    return order


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "flows.py").write_text(FLOWS)
    with (
        backend_home(request, tmp_path) as (_, database_url),
        running_server(
            tmp_path / "server-home",
            tmp_path / "server.log",
            database_url,
            env=FAST_REAPER,
            stop_timeout=120,
        ) as server,
    ):
        env = legato_env(tmp_path / "client-home", server.url, **FAST_REAPER)
        orchestrator = ClientOrchestrator(server.url)
        made = Setup(tmp_path, env, server, orchestrator)
        try:
            yield made
        finally:
            for process in made.processes:
                stop(process, hurry=True, timeout=60)
            orchestrator.close()


@pytest.mark.parametrize("launcher", ["process", "fork"])
def test_a_run_of_a_killed_worker_runs_once_at_a_time(setup: Setup, launcher: str) -> None:
    lines = setup.folder / "ticks.txt"
    doomed = setup.start_worker("doomed", launcher)
    run_id = setup.deploy_and_run("ticker", lines, seconds=20)
    wait_until(lambda: len(lines_of(lines)) >= 3, "the first attempt did not start")
    first_pid = lines_of(lines)[0][0]
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=60)
    # The flow process does not outlive its worker (PR_SET_PDEATHSIG).
    wait_until(lambda: not alive(first_pid), "the flow process outlived its killed worker", 10)
    wait_until(lambda: "AwaitingRetry" in setup.history(run_id), "the run was not rescheduled")
    setup.start_worker("rescuer", launcher)
    run = wait_final(setup.orchestrator, run_id)
    assert run.state.name == "Completed", run.state
    found = lines_of(lines)
    order = assert_one_body_at_a_time(found)
    assert len(order) == 2, found
    assert [text for pid, text in found if text == "start"] == ["start", "start"]
    assert (order[1], "end") in found
    assert (order[0], "end") not in found  # the first body never got to its end
    history = setup.history(run_id)
    assert history.count("Completed") == 1
    assert history[-1] == "Completed"
    assert setup.orchestrator.read_flow_run_row(run_id).worker_name == "rescuer"


def test_a_process_whose_run_was_taken_back_stops_and_is_refused(setup: Setup) -> None:
    """An orphan, made by hand: a worker that claims and then never heartbeats, and the
    run's process started with the claim's token. The reaper takes the run back; the
    process hears it on its next batch and stops; the next attempt runs alone."""
    lines = setup.folder / "chatty.txt"
    run_id = setup.deploy_and_run("chatty", lines, seconds=3)
    [claimed] = setup.orchestrator.claim_flow_runs("p", "vanished", 1)
    assert claimed.id == run_id
    env = {**setup.env, RUN_TOKEN_VARIABLE: claimed.token}
    orphan = setup.start(["flow-run", "execute", run_id], "orphan.log", env)

    def started() -> bool:
        setup.orchestrator.heartbeat([run_id], "vanished")  # alive until the body runs
        return len(lines_of(lines)) >= 2

    wait_until(started, "the orphan's body did not start")
    # Then no heartbeat comes: the reaper crashes the run and reschedules it.
    orphan.wait(timeout=60)
    assert orphan.returncode == EXIT_TAKEN_BACK, (setup.folder / "orphan.log").read_text()
    log = (setup.folder / "orphan.log").read_text()
    assert "was taken back from this process" in log
    assert "AwaitingRetry" in setup.history(run_id)
    # Its token opens nothing now, and whatever it would say is refused, not stored.
    late = ClientOrchestrator(setup.server.url, run_token=claimed.token, max_outage=5)
    try:
        verdict = late.set_flow_run_state(run_id, State(StateType.COMPLETED, "Completed"))
    finally:
        late.close()
    assert not verdict.allowed and verdict.taken_back
    assert setup.orchestrator.read_flow_run(run_id).state.name == "AwaitingRetry"
    setup.start_worker("rescuer", "process")
    run = wait_final(setup.orchestrator, run_id)
    assert run.state.name == "Completed", run.state
    order = assert_one_body_at_a_time(lines_of(lines))
    assert len(order) == 2
    history = setup.history(run_id)
    assert history.count("Completed") == 1
    assert history.count("Running") + history.count("Retrying") == 2


def test_a_quiet_orphan_stops_soon_after_its_run_is_taken_back(setup: Setup) -> None:
    """The body reports nothing (no task runs, no logs): the process still asks, every
    heartbeat interval, whether its attempt holds the run, and stops when it does not."""
    lines = setup.folder / "quiet.txt"
    run_id = setup.deploy_and_run("ticker", lines, seconds=60)
    [claimed] = setup.orchestrator.claim_flow_runs("p", "vanished", 1)
    env = {**setup.env, RUN_TOKEN_VARIABLE: claimed.token}
    orphan = setup.start(["flow-run", "execute", run_id], "orphan.log", env)

    def started() -> bool:
        setup.orchestrator.heartbeat([run_id], "vanished")
        return len(lines_of(lines)) >= 2

    wait_until(started, "the orphan's body did not start")
    wait_until(lambda: "AwaitingRetry" in setup.history(run_id), "the run was not taken back")
    orphan.wait(timeout=30)  # far less than the body's 60 s
    assert orphan.returncode == EXIT_TAKEN_BACK, (setup.folder / "orphan.log").read_text()
    assert (orphan.pid, "end") not in lines_of(lines)
    assert setup.orchestrator.read_flow_run(run_id).state.name == "AwaitingRetry"


def test_a_quiet_orphan_on_the_embedded_store_stops_too(tmp_path: Path) -> None:
    """The same without a server: a worker's run on the embedded store."""
    from legato.store import Store

    (tmp_path / "flows.py").write_text(FLOWS)
    lines = tmp_path / "quiet.txt"
    env = legato_env(tmp_path / "home", **FAST_REAPER)
    run_legato(
        "deploy",
        "flows.py:ticker",
        "--name",
        "t",
        "--pool",
        "p",
        "--retries",
        "1",
        f"--param=path={lines}",
        "--param=seconds=60",
        env=env,
        cwd=tmp_path,
        check=True,
    )
    run_legato("deployment", "run", "t", env=env, cwd=tmp_path, check=True)
    store = Store(f"sqlite:///{tmp_path / 'home' / 'legato.db'}")
    orphan: Popen | None = None
    try:
        [claimed] = store.claim_flow_runs("p", "vanished", 1, now=time.time() + 1)
        orphan = start_legato(
            ["flow-run", "execute", claimed.id],
            env={**env, RUN_TOKEN_VARIABLE: claimed.token},
            cwd=tmp_path,
            output=tmp_path / "orphan.log",
        )
        wait_until(lambda: len(lines_of(lines)) >= 2, "the orphan's body did not start")
        [outcome] = store.reap_stale_flow_runs(timeout=0, now=time.time() + 10)
        assert outcome.state_name == "AwaitingRetry"
        orphan.wait(timeout=30)
        assert orphan.returncode == EXIT_TAKEN_BACK, (tmp_path / "orphan.log").read_text()
        assert store.read_flow_run(claimed.id).state.name == "AwaitingRetry"
    finally:
        if orphan is not None and orphan.poll() is None:
            orphan.kill()
            orphan.wait()
        store.close()
