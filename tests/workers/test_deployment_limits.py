"""Concurrency limits of deployments and work pools, end to end: a real server, a real
worker allowed 4 runs at once, and flow runs in real subprocesses. A limit of 1 makes
two runs take turns; a run that crashes gives its slot back."""

from __future__ import annotations

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
from fixtures.workers import FAST_WORKER, start_worker
from legato.orchestrator.client import ClientOrchestrator
from legato.schemas import FlowRunRecord

pytestmark = pytest.mark.slow

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


@dataclass
class Served:
    folder: Path
    env: dict[str, str]
    client: ClientOrchestrator

    def legato(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=True)

    def run(self, deployment: str, log: Path, label: str, *params: str) -> str:
        return run_deployment(
            deployment, f"log={log}", f"label={label}", *params, env=self.env, cwd=self.folder
        )

    def wait_final(self, flow_run_id: str) -> FlowRunRecord:
        return wait_final(self.client, flow_run_id)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("limits")
    (folder / "flows.py").write_text(FLOWS)
    with running_server(folder / "server-home", folder / "server.log") as server:
        env = legato_env(folder / "client-home", server.url, **FAST_WORKER)
        client = ClientOrchestrator(server.url)
        setup = Served(folder, env, client)
        setup.legato("work-pool", "create", "solo", "--limit", "1")
        workers = [
            start_worker(folder, env, "--limit", "4", pool="p"),
            start_worker(folder, env, "--limit", "4", pool="solo"),
        ]
        try:
            yield setup
        finally:
            codes = [stop(worker) for worker in workers]
            client.close()
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
