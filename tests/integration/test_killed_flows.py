"""A flow process killed outright (kill -9, the OOM killer) is found by the next legato
command on its host: its runs end Crashed naming the process, and `legato runs retry`
resumes them, running only what had not finished. On SQLite and PostgreSQL; a live
process's run is never touched, and a pid now used by another process is told apart by
its start time."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

import legato
from fixtures.commands import run_legato
from fixtures.postgres import BACKENDS, backend_database
from fixtures.scripts import Scripts
from fixtures.waiting import poll
from legato.ids import new_id
from legato.orchestrator.default import reset_default_orchestrator
from legato.processes import this_process
from legato.settings import get_settings
from legato.states import State, StateType
from legato.store import Store

KILLED_FLOW = """
import json
import os
import time
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


def executed(name):
    with open(HERE / "executions.txt", "a") as f:
        f.write(name + "\\n")


@task(persist_result=True)
def step(i: int) -> int:
    executed(f"step-{i}")
    if i == 3 and not (HERE / "release").exists():
        ctx = get_run_context()
        marker = {
            "inner": ctx.flow_run.flow_run_id,
            "task_run_id": ctx.task_run_id,
            "pid": os.getpid(),
        }
        (HERE / "marker.tmp").write_text(json.dumps(marker))
        (HERE / "marker.tmp").rename(HERE / "marker.json")
        time.sleep(120)
    return i


@flow
def inner(n: int) -> int:
    return sum(step(i) for i in range(n))


@flow
def outer(n: int = 5) -> int:
    return inner(n) + 100


if __name__ == "__main__":
    print("result", outer())
"""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The store every process of the test uses: the SQLite file of LEGATO_HOME, or a new
    PostgreSQL database (LEGATO_DATABASE_URL, dropped after)."""
    with backend_database(request) as database_url:
        if database_url is None:
            yield "sqlite"
            return
        monkeypatch.setenv("LEGATO_DATABASE_URL", database_url)
        try:
            yield "postgres"
        finally:
            reset_default_orchestrator()


def executions(scripts: Scripts) -> list[str]:
    path = scripts.folder / "executions.txt"
    return path.read_text().split() if path.exists() else []


def kill_mid_run(scripts: Scripts, started: list[subprocess.Popen[str]]) -> dict[str, Any]:
    """Run the flow file, wait until step-3 is stored Running, kill -9 it; the ids."""
    path = scripts.write("killed.py", KILLED_FLOW)
    process = scripts.start(path)
    started.append(process)
    marker = scripts.folder / "marker.json"
    assert poll(marker.exists, timeout=60), scripts.output(path)
    ids: dict[str, Any] = json.loads(marker.read_text())
    store = Store(get_settings().effective_database_url)
    try:

        def step_3_stored() -> bool:
            rows = store.read_task_runs_by_key(ids["inner"]).values()
            stored = sorted(row.state_type for row in rows)
            return stored == ["COMPLETED"] * 3 + ["RUNNING"]

        assert poll(step_3_stored, timeout=30), scripts.output(path)
        ids["outer"] = store.read_flow_run(ids["inner"]).parent_flow_run_id
    finally:
        store.close()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert ids["pid"] == process.pid
    return ids


def test_a_killed_flow_ends_crashed_and_runs_retry_resumes_only_the_unfinished_tasks(
    backend: str, scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    ids = kill_mid_run(scripts, started)
    gone = f"the process that ran it (pid {ids['pid']} on {socket.gethostname()}) is gone"

    listed = run_legato("runs", "ls", "--json")

    assert listed.returncode == 0, listed.stderr
    states = {run["id"]: run["state"] for run in json.loads(listed.stdout)}
    for run_id in (ids["outer"], ids["inner"]):
        assert states[run_id]["name"] == "Crashed"
        assert states[run_id]["message"] == gone
    shown = run_legato("runs", "show", ids["inner"], "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    tasks = {t["name"]: t["state"] for t in document["task_runs"]}
    assert [tasks[f"step-{i}"]["name"] for i in range(3)] == ["Completed"] * 3
    assert tasks["step-3"]["name"] == "Crashed"
    assert tasks["step-3"]["message"] == f"the flow run crashed: {gone}"
    assert [s["name"] for s in document["state_history"]] == ["Pending", "Running", "Crashed"]
    assert executions(scripts) == ["step-0", "step-1", "step-2", "step-3"]

    (scripts.folder / "release").write_text("")
    retried = run_legato("runs", "retry", ids["outer"], "--json")

    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert json.loads(retried.stdout)["state"]["name"] == "Completed"
    # Only the task that was running when the process died, and the one never reached.
    assert executions(scripts) == ["step-0", "step-1", "step-2", "step-3", "step-3", "step-4"]
    client = legato.get_client()
    assert client.read_flow_run(ids["outer"]).state.name == "Completed"
    assert client.read_flow_run(ids["inner"]).state.name == "Completed"
    history = [s.name for s in client.read_state_history(ids["outer"])]
    assert history == ["Pending", "Running", "Crashed", "Pending", "Retrying", "Completed"]


def test_runs_cancel_of_a_killed_flow_says_it_crashed_and_why(
    scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    ids = kill_mid_run(scripts, started)

    cancelled = run_legato("runs", "cancel", ids["outer"])

    assert cancelled.returncode == 1
    assert cancelled.stderr.strip() == (
        f"error: flow run {ids['outer']} is Crashed already (the process that ran it "
        f"(pid {ids['pid']} on {socket.gethostname()}) is gone); nothing to cancel"
    )
    (scripts.folder / "release").write_text("")
    assert legato.retry_flow_run(ids["outer"]).type is StateType.COMPLETED


def test_the_run_of_a_live_process_is_never_touched(
    scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    path = scripts.write("killed.py", KILLED_FLOW)
    process = scripts.start(path)
    started.append(process)
    marker = scripts.folder / "marker.json"
    assert poll(marker.exists, timeout=60), scripts.output(path)
    inner = json.loads(marker.read_text())["inner"]
    outer = legato.get_client().read_flow_run(inner).parent_flow_run_id
    assert outer is not None

    listed = run_legato("runs", "ls", "--json")
    retried = run_legato("runs", "retry", outer)
    cancelled = run_legato("runs", "cancel", outer)

    assert process.poll() is None
    assert {run["state"]["name"] for run in json.loads(listed.stdout)} == {"Running"}
    assert retried.returncode == 1
    assert retried.stderr.strip() == (
        f"error: flow run {outer} is Running, not finished (its process, pid {process.pid} "
        f"on {socket.gethostname()}, is running it); only a Failed, Crashed or Cancelled "
        "flow run can be retried"
    )
    assert cancelled.returncode == 1
    assert "stop that process" in cancelled.stderr
    for run_id in (outer, inner):
        assert legato.get_client().read_flow_run(run_id).state.name == "Running"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143


def test_a_run_whose_pid_now_belongs_to_another_process_ends_crashed(
    backend: str,
) -> None:
    """The pid is this test's own, alive, but it started long after the recorded time."""
    me = this_process()
    store = Store(get_settings().effective_database_url)
    run_id = new_id()
    try:
        store.create_flow_run(
            {
                "id": run_id,
                "flow_name": "etl",
                "name": "old-run",
                "parameters": {},
                "tags": [],
                "run_count": 1,
                "created": me.started - 7200,
                **me.fields(),
                "process_started": me.started - 3600,
            },
            State(StateType.RUNNING, "Running", timestamp=me.started - 3600),
        )
    finally:
        store.close()

    shown = run_legato("runs", "show", run_id, "--json")

    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)["state"]
    assert state["name"] == "Crashed"
    assert state["message"] == (
        f"the process that ran it (pid {me.pid} on {me.host}) is gone; "
        "that pid now belongs to another process"
    )


def test_a_flow_records_the_process_that_runs_it(backend: str) -> None:
    @legato.flow
    def recorded() -> int:
        return 1

    state = recorded(return_state=True)

    row = legato.get_client().read_flow_run_row(state.run_id)
    me = this_process()
    assert (row.process_host, row.process_pid, row.process_started) == (
        socket.gethostname(),
        os.getpid(),
        me.started,
    )
    assert abs(me.started - time.time()) < 24 * 3600 * 365
