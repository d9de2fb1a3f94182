"""``legato runs retry ID`` of a deployment's run sends it back to its work pool: the same
flow run, AwaitingRetry now, run by a worker there with its finished task runs reused;
``--here`` runs it in the CLI's process instead. ``runs show`` gives the run time (its
attempts' running time, summed) beside the wall-clock duration."""

from __future__ import annotations

import itertools
import json
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_deployment, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import running_server
from fixtures.workers import FAST_WORKER, start_worker
from legato.orchestrator.client import ClientOrchestrator

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import os
    import pathlib

    from legato import flow, task

    HERE = pathlib.Path(__file__).parent


    @task
    def extract(label):
        with open(HERE / f"extract-{label}.txt", "a") as marks:
            marks.write(f"{os.getpid()}\\n")
        return 21


    @task
    def load(label, value):
        flag = HERE / f"fail-once-{label}"
        if flag.exists():
            flag.unlink()
            raise RuntimeError("the first attempt fails")
        with open(HERE / f"load-{label}.txt", "a") as marks:
            marks.write(f"{os.getpid()}\\n")
        return value * 2


    @flow
    def pipeline(label: str):
        return load(label, extract(label))
    """
)


@dataclass
class Setup:
    folder: Path
    env: dict[str, str]
    orchestrator: ClientOrchestrator
    worker: subprocess.Popen[bytes]

    def legato(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=self.env, cwd=self.folder, check=check)

    def failed_run(self, label: str) -> str:
        """A run of the deployment whose first attempt fails (in the worker's process)."""
        (self.folder / f"fail-once-{label}").touch()
        run_id = run_deployment("pipeline/d", f"label={label}", env=self.env, cwd=self.folder)
        assert wait_final(self.orchestrator, run_id).state.name == "Failed"
        return run_id

    def pids(self, name: str) -> list[int]:
        return [int(line) for line in (self.folder / name).read_text().split()]


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A server, the deployment ``pipeline/d`` on pool ``p`` and a worker of ``p``."""
    folder = tmp_path_factory.mktemp("retry-on-pool")
    (folder / "flows.py").write_text(FLOWS)
    with running_server(folder / "server-home", folder / "server.log") as server:
        env = legato_env(folder / "client-home", server.url, **FAST_WORKER)
        run_legato(
            "deploy", "flows.py:pipeline", "--name", "d", "--pool", "p",
            env=env, cwd=folder, check=True,
        )  # fmt: skip
        worker = start_worker(folder, env, "--name", "w1", output=folder / "worker.log")
        orchestrator = ClientOrchestrator(server.url)
        try:
            yield Setup(folder, env, orchestrator, worker)
        finally:
            code = stop(worker)
            orchestrator.close()
        assert code == 0, (folder / "worker.log").read_text()


def test_retry_sends_a_deployments_run_back_to_its_pool(pool: Setup) -> None:
    run_id = pool.failed_run("pool")
    first_pid = pool.pids("extract-pool.txt")
    done = pool.legato("runs", "retry", run_id, "--json")
    answer = json.loads(done.stdout)
    assert answer["flow_run_id"] == run_id and answer["work_pool"] == "p"
    assert answer["state"]["type"] == "SCHEDULED"
    assert answer["state"]["name"] == "AwaitingRetry"
    record = wait_final(pool.orchestrator, run_id)
    assert record.state.name == "Completed", record.state
    assert record.run_count == 2 and record.worker_name == "w1"  # claimed again
    history = [s.name for s in pool.orchestrator.read_state_history(run_id)]
    assert history == [
        "Scheduled", "Pending", "Running", "Failed",
        "AwaitingRetry", "Pending", "Retrying", "Completed",
    ]  # fmt: skip
    # extract ran once (the first attempt's result was reused), load once more.
    assert pool.pids("extract-pool.txt") == first_pid
    assert len(pool.pids("load-pool.txt")) == 1
    task_runs = {t.name: t for t in pool.orchestrator.read_task_runs(run_id)}
    assert task_runs["extract-0"].run_count == 1
    assert task_runs["load-0"].state.name == "Completed"


def test_retry_here_runs_a_deployments_run_in_the_cli_process(pool: Setup) -> None:
    run_id = pool.failed_run("here")
    done = pool.legato("runs", "retry", run_id, "--here", "--json")
    answer = json.loads(done.stdout)
    assert answer["state"]["name"] == "Completed"
    assert len(answer["task_runs_reused"]) == 1 and len(answer["task_runs_run"]) == 1
    record = pool.orchestrator.read_flow_run(run_id)
    assert record.state.name == "Completed" and record.run_count == 2
    assert len(pool.pids("extract-here.txt")) == 1
    assert len(pool.pids("load-here.txt")) == 1


def test_retry_refuses_a_run_that_completed(pool: Setup) -> None:
    run_id = run_deployment("pipeline/d", "label=done", env=pool.env, cwd=pool.folder)
    assert wait_final(pool.orchestrator, run_id).state.name == "Completed"
    done = pool.legato("runs", "retry", run_id, check=False)
    assert done.returncode == 1
    assert f"flow run {run_id} is Completed; there is nothing to retry" in done.stderr


def test_show_gives_the_run_time_beside_the_wall_clock_duration(pool: Setup) -> None:
    run_id = pool.failed_run("times")
    pool.legato("runs", "retry", run_id)
    assert wait_final(pool.orchestrator, run_id).state.name == "Completed"
    shown = json.loads(pool.legato("runs", "show", run_id, "--json").stdout)
    keys = list(shown)
    assert keys.index("run_time_seconds") == keys.index("duration_seconds") + 1
    history = shown["state_history"]
    running = sum(
        (_time(after["timestamp"]) - _time(state["timestamp"])).total_seconds()
        for state, after in itertools.pairwise(history)
        if state["type"] == "RUNNING"
    )
    assert shown["run_time_seconds"] == pytest.approx(running, abs=1e-5)
    # The wall clock also counts the wait between the two attempts.
    assert shown["run_time_seconds"] < shown["duration_seconds"]
    listed = json.loads(pool.legato("runs", "ls", "--json", "--limit", "50").stdout)
    (row,) = [run for run in listed if run["id"] == run_id]
    assert row["run_time_seconds"] == shown["run_time_seconds"]
    text = pool.legato("runs", "show", run_id).stdout
    assert "run time" in text and "over 2 attempts" in text
    assert "wall clock: first start to end" in text
    table = pool.legato("runs", "ls", "--limit", "50").stdout
    assert "RUN TIME" in table.splitlines()[0]


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
