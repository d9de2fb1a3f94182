"""Runs whose process is interrupted end Crashed with the reason, never Running forever."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

import legato
from fixtures.scripts import Scripts
from fixtures.waiting import poll
from legato import StateType, flow, task
from legato.states import TERMINAL_TYPES

BLOCKING_FLOW = """
import json
import sys
import time
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


@task
def done_first():
    return 1


@task
def block():
    ctx = get_run_context()
    marker = {"flow_run_id": ctx.flow_run.flow_run_id, "task_run_id": ctx.task_run_id}
    (HERE / "marker.tmp").write_text(json.dumps(marker))
    (HERE / "marker.tmp").rename(HERE / "marker.json")
    time.sleep(60)


@flow
def stuck(mode: str):
    done_first()
    if mode == "submit":
        block.submit().result()
    else:
        block()


if __name__ == "__main__":
    stuck(sys.argv[1])
"""


def _start_and_terminate(
    scripts: Scripts, started: list[subprocess.Popen[str]], mode: str
) -> tuple[subprocess.Popen[str], dict[str, str], Path]:
    """Run the blocking flow, wait until its task blocks, send SIGTERM; return ids too."""
    path = scripts.write("stuck.py", BLOCKING_FLOW)
    process = scripts.start(path, mode)
    started.append(process)
    marker = scripts.folder / "marker.json"
    assert poll(marker.exists, timeout=30), scripts.output(path)
    process.send_signal(signal.SIGTERM)
    return process, json.loads(marker.read_text()), path


@pytest.mark.parametrize("mode", ["call", "submit"])
def test_flow_and_running_task_end_crashed_when_process_gets_sigterm(
    mode: str, scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    _process, ids, path = _start_and_terminate(scripts, started, mode)
    client = legato.get_client()

    def crashed() -> bool:
        return client.read_flow_run(ids["flow_run_id"]).state.type in TERMINAL_TYPES

    assert poll(crashed, timeout=20), scripts.output(path)
    flow_run = client.read_flow_run(ids["flow_run_id"])
    runs = {t.name: t for t in client.read_task_runs(ids["flow_run_id"])}

    assert flow_run.state.name == "Crashed", scripts.output(path)
    assert flow_run.state.type is StateType.CRASHED
    assert "SIGTERM" in (flow_run.state.message or "")
    assert flow_run.end_time is not None
    blocked = runs["block-0"]
    assert blocked.id == ids["task_run_id"]
    assert blocked.state.name == "Crashed"
    assert "SIGTERM" in (blocked.state.message or "")
    assert runs["done_first-0"].state.name == "Completed"
    history = [s.name for s in client.read_state_history(ids["flow_run_id"])]
    assert history == ["Pending", "Running", "Crashed"]


@pytest.mark.parametrize("mode", ["call", "submit"])
def test_flow_process_exits_with_143_when_it_gets_sigterm(
    mode: str, scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    process, _ids, path = _start_and_terminate(scripts, started, mode)

    try:
        returncode = process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail(
            "the flow process was still alive 10 s after SIGTERM (its task sleeps 60 s)\n"
            + scripts.output(path)
        )
    assert returncode == 143, scripts.output(path)


ASYNC_BLOCKING_FLOW = """
import asyncio
import json
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


@task
async def block():
    ctx = get_run_context()
    marker = {"flow_run_id": ctx.flow_run.flow_run_id, "task_run_id": ctx.task_run_id}
    (HERE / "marker.tmp").write_text(json.dumps(marker))
    (HERE / "marker.tmp").rename(HERE / "marker.json")
    await asyncio.sleep(60)


@flow
async def stuck_async():
    await block()


if __name__ == "__main__":
    asyncio.run(stuck_async())
"""


def test_async_flow_and_task_end_crashed_when_process_gets_sigterm(
    scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    path = scripts.write("stuck_async.py", ASYNC_BLOCKING_FLOW)
    process = scripts.start(path)
    started.append(process)
    marker = scripts.folder / "marker.json"
    assert poll(marker.exists, timeout=30), scripts.output(path)
    ids = json.loads(marker.read_text())
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    client = legato.get_client()
    flow_run = client.read_flow_run(ids["flow_run_id"])
    task_states = {t.id: t.state.name for t in client.read_task_runs(ids["flow_run_id"])}

    assert flow_run.state.name == "Crashed", scripts.output(path)
    assert "SIGTERM" in (flow_run.state.message or "")
    assert task_states == {ids["task_run_id"]: "Crashed"}


def test_flow_run_crashes_and_interrupt_propagates_when_body_raises_keyboard_interrupt() -> None:
    @task
    def fine() -> int:
        return 1

    @flow
    def interrupted() -> None:
        fine()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted()

    client = legato.get_client()
    (run,) = client.read_flow_runs(flow_name="interrupted")
    assert run.state.name == "Crashed"
    assert run.state.type is StateType.CRASHED
    assert "KeyboardInterrupt" in (run.state.message or "")
    assert [t.state.name for t in client.read_task_runs(run.id)] == ["Completed"]


def test_task_run_crashes_when_keyboard_interrupt_is_raised_inside_it() -> None:
    @task
    def interrupting() -> None:
        raise KeyboardInterrupt

    @flow
    def hosting() -> None:
        interrupting()

    with pytest.raises(KeyboardInterrupt):
        hosting()

    client = legato.get_client()
    (run,) = client.read_flow_runs(flow_name="hosting")
    (task_run,) = client.read_task_runs(run.id)
    assert task_run.state.name == "Crashed"
    assert run.state.name == "Crashed"


def test_running_submitted_task_is_marked_crashed_when_flow_body_is_interrupted() -> None:
    import threading

    started = threading.Event()
    release = threading.Event()

    @task
    def lingering() -> None:
        started.set()
        release.wait(10)

    @flow
    def abandoning() -> None:
        lingering.submit()
        started.wait(10)
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            abandoning()
        client = legato.get_client()
        (run,) = client.read_flow_runs(flow_name="abandoning")
        (task_run,) = client.read_task_runs(run.id)
        assert task_run.state.name == "Crashed"
        assert "KeyboardInterrupt" in (task_run.state.message or "")
    finally:
        release.set()
        time.sleep(0.05)
