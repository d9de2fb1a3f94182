"""Another process sees a running flow's progress in the database within about a second."""

from __future__ import annotations

import subprocess

import legato
from fixtures.scripts import Scripts
from fixtures.waiting import poll
from legato import StateType

BUSY_FLOW = """
import sys
import time
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


@task
def quick(i):
    return i


@flow
def busy():
    for i in range(50):
        quick(i)
    (HERE / "started.tmp").write_text(get_run_context().flow_run_id)
    (HERE / "started.tmp").rename(HERE / "started.txt")
    deadline = time.monotonic() + 60
    while not (HERE / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.02)


if __name__ == "__main__":
    busy()
"""


def test_other_process_sees_task_runs_within_two_seconds_when_flow_is_still_running(
    scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    path = scripts.write("busy.py", BUSY_FLOW)
    process = scripts.start(path)
    started.append(process)
    marker = scripts.folder / "started.txt"
    assert poll(marker.exists, timeout=30), scripts.output(path)
    flow_run_id = marker.read_text()
    client = legato.get_client()

    def all_completed() -> bool:
        runs = client.read_task_runs(flow_run_id)
        return len(runs) == 50 and all(t.state.name == "Completed" for t in runs)

    try:
        seen = poll(all_completed, timeout=2.0)
        flow_state = client.read_flow_run(flow_run_id).state
    finally:
        (scripts.folder / "release").touch()

    assert seen, f"{len(client.read_task_runs(flow_run_id))} task runs visible after 2 s"
    assert flow_state.type is StateType.RUNNING
    assert process.wait(timeout=30) == 0, scripts.output(path)
    assert client.read_flow_run(flow_run_id).state.name == "Completed"
