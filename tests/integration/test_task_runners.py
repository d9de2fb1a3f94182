"""Task runners: threads run submitted tasks side by side; processes run them elsewhere and
still get their log lines stored."""

from __future__ import annotations

import json
import threading

import legato
from fixtures.scripts import Scripts
from legato import ThreadPoolTaskRunner, flow, task


def test_submitted_tasks_run_concurrently_when_thread_pool_has_two_workers() -> None:
    arrived = {"left": threading.Event(), "right": threading.Event()}

    @task
    def meet(me: str, other: str) -> bool:
        arrived[me].set()
        # True only if the other task started while this one was still running.
        return arrived[other].wait(timeout=5)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
    def rendezvous() -> list[bool]:
        left = meet.submit("left", "right")
        right = meet.submit("right", "left")
        return [left.result(), right.result()]

    state = rendezvous(return_state=True)

    assert state.result() == [True, True]
    runs = legato.get_client().read_task_runs(state.run_id)
    assert sorted(t.state.name for t in runs) == ["Completed", "Completed"]


def test_submitted_tasks_run_one_at_a_time_when_thread_pool_has_one_worker() -> None:
    running = [0]
    peak = [0]
    lock = threading.Lock()
    gate = threading.Event()

    @task
    def tracked(i: int) -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        gate.wait(0.1)  # give a second worker, if any, the chance to start
        with lock:
            running[0] -= 1

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def serial() -> None:
        tracked.map(range(4)).wait()

    serial()

    assert peak[0] == 1


PROCESS_FLOW = """
import json
import os
from pathlib import Path

from legato import ProcessPoolTaskRunner, flow, get_run_logger, task


@task
def where(x):
    get_run_logger().info("child pid %d", os.getpid())
    return {"pid": os.getpid(), "value": x * 2}


@task(log_prints=True)
def chatty():
    print("printed in a worker process")
    return os.getpid()


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def elsewhere():
    get_run_logger().info("parent pid %d", os.getpid())
    first = where.submit(21).result()
    chatty_pid = chatty.submit().result()
    return {"parent": os.getpid(), "child": first["pid"], "value": first["value"],
            "chatty": chatty_pid}


if __name__ == "__main__":
    state = elsewhere(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id, "state": state.name,
                      "result": state.result() if state.is_completed() else None}))
"""


def test_task_runs_in_other_process_and_logs_are_stored_when_process_pool_is_used(
    scripts: Scripts,
) -> None:
    path = scripts.write("elsewhere.py", PROCESS_FLOW)
    done = scripts.run(path, timeout=120)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    client = legato.get_client()
    flow_run_id = outcome["flow_run_id"]
    runs = {t.name: t for t in client.read_task_runs(flow_run_id)}
    logs = client.read_logs(flow_run_id)

    assert outcome["state"] == "Completed", done.stderr
    result = outcome["result"]
    assert result["value"] == 42
    assert result["child"] != result["parent"]
    assert runs["where-0"].state.name == "Completed"
    child_lines = [line for line in logs if line.message == f"child pid {result['child']}"]
    assert len(child_lines) == 1
    assert child_lines[0].task_run_id == runs["where-0"].id
    assert child_lines[0].level == "INFO"
    parent_lines = [line for line in logs if line.message == f"parent pid {result['parent']}"]
    assert len(parent_lines) == 1 and parent_lines[0].task_run_id is None
    printed = [line for line in logs if line.message == "printed in a worker process"]
    assert len(printed) == 1
    assert printed[0].task_run_id == runs["chatty-0"].id


PROCESS_FAILURE_FLOW = """
import json

from legato import ProcessPoolTaskRunner, flow, task


@task(retries=1)
def broken():
    raise ValueError("raised in a worker process")


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def failing_elsewhere():
    return broken.submit().result()


if __name__ == "__main__":
    state = failing_elsewhere(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id}))
"""


def test_process_task_failure_is_stored_and_retried_when_it_raises_in_a_worker(
    scripts: Scripts,
) -> None:
    path = scripts.write("failing_elsewhere.py", PROCESS_FAILURE_FLOW)
    done = scripts.run(path, timeout=120)
    assert done.returncode == 0, done.stderr
    flow_run_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    client = legato.get_client()
    (task_run,) = client.read_task_runs(flow_run_id)

    assert task_run.state.name == "Failed"
    assert task_run.run_count == 2
    assert "ValueError: raised in a worker process" in (task_run.state.message or "")
    assert client.read_flow_run(flow_run_id).state.name == "Failed"


PROCESS_TIMEOUT_FLOW = """
import json
import time

from legato import ProcessPoolTaskRunner, flow, task


@task(timeout_seconds=0.5)
def stuck():
    time.sleep(8)


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def guarded():
    return stuck.submit().wait().name


if __name__ == "__main__":
    state = guarded(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id}))
"""


def test_flow_does_not_wait_for_worker_process_when_process_task_timed_out(
    scripts: Scripts,
) -> None:
    path = scripts.write("guarded.py", PROCESS_TIMEOUT_FLOW)
    done = scripts.run(path, timeout=120)
    assert done.returncode == 0, done.stderr
    flow_run_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    client = legato.get_client()
    (task_run,) = client.read_task_runs(flow_run_id)
    flow_run = client.read_flow_run(flow_run_id)

    assert task_run.state.name == "TimedOut"
    # A correctness bound, not a speed one: the task sleeps 8 s and timed out after 0.5 s,
    # so its worker process must be stopped rather than waited for.
    assert flow_run.duration_seconds is not None
    assert flow_run.duration_seconds < 4, (
        f"the flow run lasted {flow_run.duration_seconds:.1f}s: it waited for the worker "
        "process of a timed-out task"
    )
