"""Tag concurrency limits end to end: real flows in child processes, embedded and
against a real server; a task waits Pending for a slot; a killed holder leaks nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import legato
from fixtures.scripts import Scripts
from fixtures.servers import start_server
from fixtures.waiting import poll
from legato.orchestrator.client import ClientOrchestrator

pytestmark = pytest.mark.slow

SIX_TASKS = """
    import sys
    import threading
    import time

    from legato import flow, task

    log = open(sys.argv[1], "a")
    lock = threading.Lock()


    def note(what: str, i: int) -> None:
        with lock:
            log.write(f"{what} {i} {time.monotonic()}\\n")
            log.flush()


    @task(tags=["db", "other"])
    def query(i: int) -> int:
        note("in", i)
        time.sleep(0.2)
        note("out", i)
        return i


    @flow
    def many() -> list[int]:
        return [future.result() for future in query.map(range(6))]


    if __name__ == "__main__":
        print(many())
"""

HOLDER = """
    import sys
    import time
    from pathlib import Path

    from legato import flow, task


    @task(tags=["db"])
    def hold() -> None:
        Path(sys.argv[1]).write_text("holding")
        time.sleep(600)


    @flow
    def holder() -> None:
        hold()


    if __name__ == "__main__":
        holder()
"""


def most_at_once(log: Path) -> int:
    """The most bodies inside at one moment, from their entry and exit lines."""
    events = []
    for line in log.read_text().splitlines():
        what, _, when = line.split()
        events.append((float(when), 0 if what == "out" else 1))
    inside = most = 0
    for _, step in sorted(events):
        inside += 1 if step else -1
        most = max(most, inside)
    return most


def create_limit(scripts: Scripts, tag: str, limit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "legato", "concurrency-limit", "create", tag, limit],
        env=scripts.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_six_mapped_tasks_with_a_limit_of_two_run_two_at_a_time(scripts: Scripts) -> None:
    assert create_limit(scripts, "db", "2").returncode == 0
    path = scripts.write("six.py", SIX_TASKS)
    log = scripts.folder / "times.log"
    done = scripts.run(path, str(log))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("[0, 1, 2, 3, 4, 5]")
    assert len(log.read_text().splitlines()) == 12
    assert most_at_once(log) <= 2
    run = legato.get_client().read_flow_runs(flow_name="many")[0]
    assert run.state.name == "Completed"
    assert all(t.state.name == "Completed" for t in legato.get_client().read_task_runs(run.id))
    assert legato.get_client().read_concurrency_limits()[0].active_slots == 0


def test_the_limit_holds_in_client_mode(scripts: Scripts, tmp_path: Path) -> None:
    server = start_server(tmp_path / "server-home", tmp_path / "server.log")
    try:
        client = ClientOrchestrator(server.url)
        client.set_concurrency_limit("db", 2)
        path = scripts.write("six.py", SIX_TASKS)
        log = scripts.folder / "times.log"
        env = {**scripts.env(), "LEGATO_API_URL": server.url}
        done = subprocess.run(
            [sys.executable, str(path), str(log)],
            env=env,
            cwd=scripts.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert len(log.read_text().splitlines()) == 12
        assert most_at_once(log) <= 2
        run = client.read_flow_runs(flow_name="many")[0]
        assert run.state.name == "Completed"
        assert client.read_concurrency_limits()[0].active_slots == 0
        client.close()
    finally:
        assert server.stop() == 0, server.log()


def test_a_task_waits_pending_while_its_slot_is_taken(scripts: Scripts) -> None:
    client = legato.get_client()
    client.set_concurrency_limit("db", 1)
    assert client.acquire_concurrency_slots(["db"], "outside", "outside", "test", 300).acquired
    path = scripts.write("six.py", SIX_TASKS)
    log = scripts.folder / "times.log"
    process = scripts.start(path, str(log))
    try:

        def waiting() -> bool:
            runs = client.read_flow_runs(flow_name="many")
            return bool(runs) and any(
                task_run.state.name == "Pending"
                and "waiting for a concurrency slot: tag 'db' is at its limit"
                in (task_run.state.message or "")
                for task_run in client.read_task_runs(runs[0].id)
            )

        assert poll(waiting, timeout=60), scripts.output(path)
        assert not log.exists() or log.read_text() == ""
        client.release_concurrency_slots(["outside"])
        assert process.wait(timeout=120) == 0, scripts.output(path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    assert most_at_once(log) == 1


def test_a_killed_holder_leaks_no_slot(scripts: Scripts) -> None:
    """kill -9 leaves the lease in the store; it expires (no renewal) and the next flow
    run's task takes the slot."""
    assert create_limit(scripts, "db", "1").returncode == 0
    holder = scripts.write("holder.py", HOLDER)
    flag = scripts.folder / "holding"
    env = {**scripts.env(), "LEGATO_CONCURRENCY_LEASE_SECONDS": "1"}
    with open(f"{holder}.err", "w") as err:
        process = subprocess.Popen(
            [sys.executable, str(holder), str(flag)],
            env=env,
            cwd=scripts.folder,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        assert poll(flag.exists, timeout=60), scripts.output(holder)
        limit = legato.get_client().read_concurrency_limits()[0]
        assert limit.active_slots == 1
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    path = scripts.write("six.py", SIX_TASKS)
    log = scripts.folder / "times.log"
    done = scripts.run(path, str(log), timeout=120)
    assert done.returncode == 0, done.stderr
    assert most_at_once(log) == 1
    assert legato.get_client().read_concurrency_limits()[0].active_slots == 0


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_a_limit_below_one_is_refused(scripts: Scripts, limit: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "legato", "concurrency-limit", "create", "db", "--", limit],
        env=scripts.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"a concurrency limit must be at least 1, not {limit}" in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "legato", "concurrency-limit", "ls", "--json"],
        env=scripts.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(listed.stdout) == []
