"""Resuming a failed flow run (legato.retry_flow_run) and in-process flow retries: completed
task runs are skipped, the rest run again under the same flow run."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

import legato
from fixtures.scripts import Scripts, state_names
from fixtures.waiting import poll
from legato import flow, task
from legato.errors import LegatoError

PIPELINE = """
import json
import sys
from pathlib import Path

from legato import flow, task

HERE = Path(__file__).parent


def _count(name):
    with open(HERE / "calls.txt", "a") as handle:
        handle.write(name + "\\n")


@task
def a():
    _count("a")
    return 1


@task
def b(x):
    _count("b")
    return x + 1


@task
def c(y):
    _count("c")
    if (HERE / "fail_c").exists():
        raise RuntimeError("c failed on purpose")
    return y * 10


@flow
def pipeline(start: int = 0):
    return c(b(a()) + start)


if __name__ == "__main__":
    state = pipeline(start=int(sys.argv[1]), return_state=True)
    print(json.dumps({"flow_run_id": state.run_id, "state": state.name}))
"""


def _starts(task_run_id: str) -> int:
    """How many times a task run's body started, over all attempts (from its history)."""
    history = state_names(task_run_id)
    return history.count("Running") + history.count("Retrying")


def _calls(folder: Path) -> list[str]:
    path = folder / "calls.txt"
    return path.read_text().split() if path.exists() else []


@pytest.fixture
def failed_run(scripts: Scripts) -> str:
    """A pipeline run in a child process whose last step failed; its flow run id."""
    path = scripts.write("pipeline.py", PIPELINE)
    (scripts.folder / "fail_c").touch()
    done = scripts.run(path, "3")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["state"] == "Failed"
    assert _calls(scripts.folder) == ["a", "b", "c"]
    (scripts.folder / "fail_c").unlink()
    return str(outcome["flow_run_id"])


def test_retry_flow_run_keeps_id_and_skips_completed_tasks_when_last_step_failed(
    failed_run: str, scripts: Scripts
) -> None:
    state = legato.retry_flow_run(failed_run)
    client = legato.get_client()
    record = client.read_flow_run(failed_run)
    runs = {t.name: t for t in client.read_task_runs(failed_run)}

    assert state.run_id == failed_run
    assert state.is_completed()
    assert state.result() == 50  # (1 + 1 + 3) * 10
    assert _calls(scripts.folder) == ["a", "b", "c", "c"]  # a and b were not run again
    assert record.state.name == "Completed"
    assert record.run_count == 2
    assert record.parameters == {"start": 3}
    assert sorted(runs) == ["a-0", "b-0", "c-0"]  # the same task runs, no new ones
    assert runs["c-0"].state.name == "Completed"
    assert runs["c-0"].run_count == 1  # counters describe the latest attempt
    assert _starts(runs["c-0"].id) == 2  # the history keeps both
    assert runs["a-0"].run_count == 1
    assert runs["b-0"].run_count == 1


def test_retry_flow_run_records_second_attempt_in_history_when_resumed(failed_run: str) -> None:
    legato.retry_flow_run(failed_run)
    history = [s.name for s in legato.get_client().read_state_history(failed_run)]

    assert history[:3] == ["Pending", "Running", "Failed"]
    assert history[-1] == "Completed"
    assert history.count("Pending") == 2
    assert history[3] == "Pending"


def test_retry_flow_run_accepts_an_id_prefix_when_it_is_unique(failed_run: str) -> None:
    state = legato.retry_flow_run(failed_run[:13])

    assert state.run_id == failed_run
    assert state.is_completed()


def test_retry_flow_run_refuses_when_flow_run_completed(scripts: Scripts) -> None:
    path = scripts.write("pipeline.py", PIPELINE)
    done = scripts.run(path, "0")
    flow_run_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]

    with pytest.raises(LegatoError, match="Completed"):
        legato.retry_flow_run(flow_run_id)
    assert legato.get_client().read_flow_run(flow_run_id).run_count == 1


def test_flow_retry_skips_tasks_completed_in_first_attempt_when_flow_has_retries() -> None:
    calls: list[str] = []
    fail = [True]

    @task
    def a() -> int:
        calls.append("a")
        return 1

    @task
    def b(x: int) -> int:
        calls.append("b")
        if fail[0]:
            fail[0] = False
            raise RuntimeError("first attempt fails")
        return x + 1

    @flow(retries=1)
    def retried() -> int:
        return b(a())

    state = retried(return_state=True)
    client = legato.get_client()
    record = client.read_flow_run(state.run_id)
    runs = {t.name: t for t in client.read_task_runs(state.run_id)}
    history = [s.name for s in client.read_state_history(state.run_id)]

    assert state.result() == 2
    assert calls == ["a", "b", "b"]
    assert record.run_count == 2
    assert record.state.name == "Completed"
    assert history == ["Pending", "Running", "AwaitingRetry", "Retrying", "Completed"]
    assert sorted(runs) == ["a-0", "b-0"]
    assert runs["a-0"].run_count == 1
    assert runs["b-0"].run_count == 1  # counters describe the latest attempt
    assert _starts(runs["b-0"].id) == 2  # the history keeps both


def test_flow_run_fails_when_flow_retries_are_used_up() -> None:
    calls: list[int] = []

    @flow(retries=2, retry_delay_seconds=0.05)
    def always_failing() -> None:
        calls.append(1)
        raise RuntimeError("still broken")

    state = always_failing(return_state=True)
    record = legato.get_client().read_flow_run(state.run_id)

    assert len(calls) == 3
    assert record.run_count == 3
    assert record.state.name == "Failed"
    assert "still broken" in (record.state.message or "")


NESTED = """
import json
from pathlib import Path

from legato import flow, task

HERE = Path(__file__).parent


def _count(name):
    with open(HERE / "calls.txt", "a") as handle:
        handle.write(name + "\\n")


@task
def a():
    _count("a")
    return 2


@task
def b(x):
    _count("b")
    return x * 3


@task
def c(y):
    _count("c")
    if (HERE / "fail_c").exists():
        raise RuntimeError("c failed on purpose")
    return y + 1


@flow
def child(x: int):
    return c(b(x))


@flow
def parent():
    return child(a())


if __name__ == "__main__":
    state = parent(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id, "state": state.name}))
"""


def test_retry_flow_run_resumes_failed_subflow_in_place_when_parent_is_retried(
    scripts: Scripts,
) -> None:
    path = scripts.write("nested.py", NESTED)
    (scripts.folder / "fail_c").touch()
    done = scripts.run(path)
    assert done.returncode == 0, done.stderr
    parent_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    (scripts.folder / "fail_c").unlink()
    client = legato.get_client()
    (child_before,) = client.read_flow_runs(parent_flow_run_id=parent_id)
    assert child_before.state.name == "Failed"

    state = legato.retry_flow_run(parent_id)
    children = client.read_flow_runs(parent_flow_run_id=parent_id)
    child_runs = {t.name: t for t in client.read_task_runs(child_before.id)}

    assert state.is_completed()
    assert state.result() == 7
    assert _calls(scripts.folder) == ["a", "b", "c", "c"]
    assert [c.id for c in children] == [child_before.id]  # the same child run, resumed
    assert children[0].state.name == "Completed"
    assert children[0].run_count == 2
    assert child_runs["c-0"].state.name == "Completed"
    assert child_runs["b-0"].run_count == 1


def test_retry_flow_run_refuses_when_given_a_subflow_run(scripts: Scripts) -> None:
    path = scripts.write("nested.py", NESTED)
    (scripts.folder / "fail_c").touch()
    done = scripts.run(path)
    parent_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    (child,) = legato.get_client().read_flow_runs(parent_flow_run_id=parent_id)

    with pytest.raises(LegatoError, match=parent_id):
        legato.retry_flow_run(child.id)


MAPPED = """
import json
from pathlib import Path

from legato import flow, task

HERE = Path(__file__).parent


@task
def work(i):
    with open(HERE / "calls.txt", "a") as handle:
        handle.write(f"work{i}\\n")
    if i == 2 and (HERE / "fail_2").exists():
        raise RuntimeError("item 2 failed")
    return i * i


@flow
def fan_out():
    return sum(work.map([0, 1, 2, 3]).result())


if __name__ == "__main__":
    state = fan_out(return_state=True)
    print(json.dumps({"flow_run_id": state.run_id, "state": state.name}))
"""


def test_retry_flow_run_reruns_only_failed_mapped_item_when_one_item_failed(
    scripts: Scripts,
) -> None:
    path = scripts.write("mapped.py", MAPPED)
    (scripts.folder / "fail_2").touch()
    done = scripts.run(path)
    assert done.returncode == 0, done.stderr
    flow_run_id = json.loads(done.stdout.strip().splitlines()[-1])["flow_run_id"]
    (scripts.folder / "fail_2").unlink()
    assert sorted(_calls(scripts.folder)) == ["work0", "work1", "work2", "work3"]

    state = legato.retry_flow_run(flow_run_id)
    runs = {t.name: t for t in legato.get_client().read_task_runs(flow_run_id)}

    assert state.result() == 0 + 1 + 4 + 9
    assert sorted(_calls(scripts.folder)) == ["work0", "work1", "work2", "work2", "work3"]
    assert sorted(runs) == ["work-0", "work-1", "work-2", "work-3"]
    assert runs["work-2"].run_count == 1  # counters describe the latest attempt
    assert _starts(runs["work-2"].id) == 2  # the history keeps both
    assert all(t.state.name == "Completed" for t in runs.values())


INTERRUPTED = """
import time
from pathlib import Path

from legato import flow, get_run_context, task

HERE = Path(__file__).parent


@task
def a():
    with open(HERE / "calls.txt", "a") as handle:
        handle.write("a\\n")
    return 1


@task
def block(x):
    with open(HERE / "calls.txt", "a") as handle:
        handle.write("block\\n")
    if (HERE / "block").exists():
        (HERE / "marker.tmp").write_text(get_run_context().flow_run.flow_run_id)
        (HERE / "marker.tmp").rename(HERE / "marker.txt")
        time.sleep(60)
    return x + 1


@flow
def interrupted():
    return block(a())


if __name__ == "__main__":
    interrupted()
"""


def test_retry_flow_run_skips_completed_tasks_when_flow_run_crashed_on_sigterm(
    scripts: Scripts, started: list[subprocess.Popen[str]]
) -> None:
    path = scripts.write("interrupted.py", INTERRUPTED)
    (scripts.folder / "block").touch()
    process = scripts.start(path)
    started.append(process)
    marker = scripts.folder / "marker.txt"
    assert poll(marker.exists, timeout=30), scripts.output(path)
    flow_run_id = marker.read_text()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert legato.get_client().read_flow_run(flow_run_id).state.name == "Crashed"
    (scripts.folder / "block").unlink()

    state = legato.retry_flow_run(flow_run_id)
    runs = {t.name: t for t in legato.get_client().read_task_runs(flow_run_id)}

    assert state.result() == 2
    assert _calls(scripts.folder) == ["a", "block", "block"]
    assert runs["block-0"].state.name == "Completed"
    assert runs["block-0"].run_count == 1  # counters describe the latest attempt
    assert _starts(runs["block-0"].id) == 2  # the history keeps both
    assert legato.get_client().read_flow_run(flow_run_id).state.name == "Completed"


def test_flow_retry_waits_retry_delay_when_flow_retry_delay_seconds_is_set() -> None:
    calls: list[int] = []

    @flow(retries=1, retry_delay_seconds=0.3)
    def delayed_flow() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first attempt")
        return len(calls)

    state = delayed_flow(return_state=True)
    history = legato.get_client().read_state_history(state.run_id)
    names = [s.name for s in history]
    awaiting = history[names.index("AwaitingRetry")]
    retrying = history[names.index("Retrying")]
    gap = retrying.timestamp.timestamp() - awaiting.timestamp.timestamp()

    assert state.result() == 2
    assert 0.3 - 0.05 <= gap < 0.3 + 1.0


def test_flow_retry_skips_submitted_tasks_completed_in_first_attempt_when_flow_retries() -> None:
    calls: list[int] = []
    fail = [True]

    @task
    def item(i: int) -> int:
        calls.append(i)
        if i == 1 and fail[0]:
            fail[0] = False
            raise RuntimeError("item 1 fails once")
        return i

    @flow(retries=1)
    def fanned() -> int:
        return sum(item.map([0, 1, 2]).result())

    state = fanned(return_state=True)
    runs = {t.name: t for t in legato.get_client().read_task_runs(state.run_id)}

    assert state.result() == 3
    assert sorted(calls) == [0, 1, 1, 2]
    assert sorted(runs) == ["item-0", "item-1", "item-2"]
    assert runs["item-1"].run_count == 1  # counters describe the latest attempt
    assert _starts(runs["item-1"].id) == 2  # the history keeps both
