"""Concurrency limits of deployments and work pools, end to end: a real server, a real
worker allowed 4 runs at once, and flow runs in real subprocesses. A limit of 1 makes
two runs take turns; a run that crashes gives its slot back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_support import ServerProcess, start_server

from legato.orchestrator.client import ClientOrchestrator
from legato.schemas import FlowRunRecord
from legato.states import TERMINAL_TYPES

FLOWS = textwrap.dedent(
    """
    import os
    import time

    from legato import flow


    def note(log: str, what: str, label: str) -> None:
        with open(log, "a") as file:
            file.write(f"{what} {label} {time.time()}\\n")


    @flow
    def slow(log: str, label: str, die: bool = False) -> str:
        note(log, "in", label)
        if die:
            os._exit(3)
        time.sleep(0.5)
        note(log, "out", label)
        return label
    """
)

FAST = {
    "LEGATO_WORKER_POLL_INTERVAL": "0.1",
    "LEGATO_WORKER_HEARTBEAT_INTERVAL": "0.5",
}


@dataclass
class Served:
    folder: Path
    env: dict[str, str]
    client: ClientOrchestrator

    def legato(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "legato", *args],
            env=self.env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"legato {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done

    def run(self, deployment: str, log: Path, label: str, *params: str) -> str:
        args = [f"--param=log={log}", f"--param=label={label}", *(f"--param={p}" for p in params)]
        answer = self.legato("deployment", "run", deployment, *args, "--json")
        return str(json.loads(answer.stdout)["id"])

    def wait_final(self, flow_run_id: str) -> FlowRunRecord:
        deadline = time.monotonic() + 120
        while True:
            record = self.client.read_flow_run(flow_run_id)
            if record.state.type in TERMINAL_TYPES:
                return record
            assert time.monotonic() < deadline, record.state
            time.sleep(0.1)


def start_worker(folder: Path, env: dict[str, str], pool: str) -> subprocess.Popen[bytes]:
    with (folder / f"worker-{pool}.log").open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "legato", "worker", "start", "--pool", pool, "--limit", "4"],
            env=env,
            cwd=folder,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("limits")
    (folder / "flows.py").write_text(FLOWS)
    server: ServerProcess = start_server(folder / "server-home", folder / "server.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEGATO_")}
    env = {**env, "LEGATO_HOME": str(folder / "client-home"), "LEGATO_API_URL": server.url}
    env.update(FAST)
    client = ClientOrchestrator(server.url)
    setup = Served(folder, env, client)
    setup.legato("work-pool", "create", "solo", "--limit", "1")
    workers = [start_worker(folder, env, "p"), start_worker(folder, env, "solo")]
    try:
        yield setup
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=120) for worker in workers]
        client.close()
        assert server.stop() == 0, server.log()
        assert codes == [0, 0], [
            (folder / f"worker-{pool}.log").read_text() for pool in ("p", "solo")
        ]


def bodies(log: Path) -> list[tuple[str, str]]:
    """(what, label) in time order."""
    lines = [line.split() for line in log.read_text().splitlines()]
    return [(what, label) for what, label, _ in sorted(lines, key=lambda line: float(line[2]))]


def assert_one_after_the_other(log: Path) -> None:
    order = bodies(log)
    assert len(order) == 4, order
    # in a, out a, in b, out b (in either order of a and b): never two inside at once
    assert order[0][0] == "in" and order[1] == ("out", order[0][1]), order
    assert order[2][0] == "in" and order[3] == ("out", order[2][1]), order


def test_a_deployment_limit_of_one_serializes_its_runs(served: Served) -> None:
    served.legato(
        "deploy", "flows.py:slow", "--name", "one", "--pool", "p", "--concurrency-limit", "1"
    )
    log = served.folder / "deployment.log"
    first = served.run("slow/one", log, "a")
    second = served.run("slow/one", log, "b")
    runs = [served.wait_final(first), served.wait_final(second)]
    assert [run.state.name for run in runs] == ["Completed", "Completed"]
    assert_one_after_the_other(log)


def test_a_pool_limit_of_one_serializes_its_runs(served: Served) -> None:
    served.legato("deploy", "flows.py:slow", "--name", "pooled", "--pool", "solo")
    log = served.folder / "pool.log"
    first = served.run("slow/pooled", log, "a")
    second = served.run("slow/pooled", log, "b")
    runs = [served.wait_final(first), served.wait_final(second)]
    assert [run.state.name for run in runs] == ["Completed", "Completed"]
    assert_one_after_the_other(log)
    pools = {pool.name: pool for pool in served.client.read_work_pools()}
    assert (pools["solo"].concurrency_limit, pools["solo"].active_runs) == (1, 0)


def test_a_crashed_run_frees_its_slot(served: Served) -> None:
    served.legato(
        "deploy", "flows.py:slow", "--name", "crashy", "--pool", "p", "--concurrency-limit", "1"
    )
    log = served.folder / "crash.log"
    doomed = served.run("slow/crashy", log, "a", "die=true")
    after = served.run("slow/crashy", log, "b")
    crashed = served.wait_final(doomed)
    assert crashed.state.name == "Crashed", crashed.state
    completed = served.wait_final(after)
    assert completed.state.name == "Completed", completed.state
    assert bodies(log) == [("in", "a"), ("in", "b"), ("out", "b")]
