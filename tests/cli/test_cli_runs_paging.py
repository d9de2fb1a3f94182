"""``legato runs logs`` and ``runs show`` on runs too big to read whole (issue 8, items 11
and 13): flow files run as real processes log thousands of lines and make thousands of
task runs; the CLI reads them a page at a time and prints every line once, in order, and
a run's task runs as counts plus the first ones. ``--follow`` prints the lines of a run
still going and stops when it ends; Ctrl-C ends it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import legato
from fixtures.cli import cli, run_file
from fixtures.commands import LEGATO, run_legato
from fixtures.singletons import reset_singletons

LINES = 2_500
TASKS = 1_200
LEVELS = ("INFO", "WARNING", "ERROR", "CRITICAL")

BIG_FILE = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    from legato import flow, get_run_logger, task

    LEVELS = ("info", "warning", "error", "critical")


    @flow
    def chatty(n: int):
        log = get_run_logger()
        for i in range(n):
            getattr(log, LEVELS[i % 4])(f"line {i:05d}")


    @task
    def step(i):
        return i * 2


    @task
    def boom(i):
        raise ValueError(f"boom {i}")


    @flow
    def wide(n: int):
        step.map(range(n))
        boom.map(range(3))  # unused failures: the flow run ends Failed


    @flow
    def waiting(go: str):
        log = get_run_logger()
        log.info("before the wait")
        while not Path(go).exists():
            time.sleep(0.05)
        for i in range(3):
            log.info(f"after the wait {i}")


    if __name__ == "__main__":
        name, arg = sys.argv[1], sys.argv[2]
        {"chatty": chatty, "wide": wide, "waiting": waiting}[name](
            arg if name == "waiting" else int(arg)
        )
    """
)


@pytest.fixture(scope="module")
def big_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store with a run of LINES log lines and a (failed) run of TASKS + 3 task runs."""
    folder = tmp_path_factory.mktemp("big")
    home = folder / "home"
    flow_file = folder / "big.py"
    flow_file.write_text(BIG_FILE)
    for args in (("chatty", str(LINES)), ("wide", str(TASKS))):
        done = run_file(flow_file, *args, home=home)
        assert done.returncode == (args[0] == "wide"), done.stderr[-2000:]
    return home


@pytest.fixture
def runs(big_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("LEGATO_HOME", str(big_home))
    reset_singletons()
    return {run.flow_name: run.id for run in legato.get_client().read_flow_runs(limit=10)}


# -- logs ----------------------------------------------------------------------------


def test_logs_print_every_line_of_a_long_run_once_in_order(runs: dict[str, str]) -> None:
    done = run_legato("runs", "logs", runs["chatty"])

    assert done.returncode == 0, done.stderr
    printed = [line.rsplit(" | ", 1)[1] for line in done.stdout.splitlines()]
    # The engine's own lines (Beginning ..., Finished ...) come around the flow's.
    assert [m for m in printed if m.startswith("line ")] == [f"line {i:05d}" for i in range(LINES)]
    assert len(printed) == LINES + 2


def test_logs_json_is_one_array_of_every_line(runs: dict[str, str]) -> None:
    done = run_legato("runs", "logs", runs["chatty"], "--json")

    assert done.returncode == 0, done.stderr
    everything = json.loads(done.stdout)
    assert done.stdout == json.dumps(everything, indent=2, ensure_ascii=False) + "\n"
    lines = everything[1:-1]  # without the engine's first and last line
    assert [line["message"] for line in lines] == [f"line {i:05d}" for i in range(LINES)]
    assert [line["level"] for line in lines[:4]] == list(LEVELS)
    assert lines[0]["task_run_name"] is None
    assert [line["id"] for line in lines] == sorted(line["id"] for line in lines)


@pytest.mark.parametrize(
    ("level", "kept"),
    [("warning", {"WARNING", "ERROR", "CRITICAL"}), ("ERROR", {"ERROR", "CRITICAL"})],
)
def test_logs_level_keeps_that_level_and_above(
    runs: dict[str, str], level: str, kept: set[str]
) -> None:
    result = cli("runs", "logs", runs["chatty"], "--level", level, "--json")

    assert result.exit_code == 0, result.output
    lines = json.loads(result.stdout)
    expected = [f"line {i:05d}" for i in range(LINES) if LEVELS[i % 4] in kept]
    assert [line["message"] for line in lines] == expected
    assert {line["level"] for line in lines} == kept


def test_logs_unknown_level_exits_1_naming_it(runs: dict[str, str]) -> None:
    result = cli("runs", "logs", runs["chatty"], "--level", "loud")

    assert result.exit_code == 1
    assert "unknown log level 'loud'" in result.stderr


def test_logs_limit_stops_after_that_many_lines(runs: dict[str, str]) -> None:
    result = cli("runs", "logs", runs["chatty"], "--limit", "1500", "--json")

    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 1500


# -- follow --------------------------------------------------------------------------


class _Reader:
    """Collects a process's stdout lines from a thread, so a test can wait on them."""

    def __init__(self, process: subprocess.Popen[str]):
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def text(self) -> str:
        return "".join(self.lines)

    def finish(self, process: subprocess.Popen[str], timeout: float) -> tuple[int, str]:
        """Wait for the process to end: its exit code and stderr (its pipes closed). One
        that hangs is made to print where each of its threads is (SIGABRT: Python's
        fault handler), and the test fails with that."""
        code: int | None = None
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=30)
        self._thread.join(timeout=10)
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()
        with process.stderr:
            stderr = process.stderr.read()
        if code is None:
            pytest.fail(f"still running {timeout:g} s after it was asked to end:\n{stderr}")
        return code, stderr


def _wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def waiting_run(tmp_path: Path, isolated_home: Path) -> Iterator[tuple[str, Path]]:
    """A flow process that logs a line, then waits for ``go`` to exist; its run id and
    ``go`` (created at the end, so the process always finishes)."""
    flow_file = tmp_path / "big.py"
    flow_file.write_text(BIG_FILE)
    go = tmp_path / "go"
    env = {**os.environ, "LEGATO_HOME": str(isolated_home)}
    process = subprocess.Popen(
        [sys.executable, str(flow_file), "waiting", str(go)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        client = legato.get_client()

        def started() -> list[Any]:
            return client.read_flow_runs(flow_name="waiting")

        _wait_for(started, "the run")
        run_id = started()[0].id
        _wait_for(lambda: client.read_logs(run_id), "its first line")
        yield run_id, go
    finally:
        go.touch()
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr


def _follow(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*LEGATO, "runs", "logs", *args, "--follow"],
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # see _Reader.finish
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_follow_prints_lines_written_while_it_runs_and_stops_when_the_run_ends(
    waiting_run: tuple[str, Path],
) -> None:
    run_id, go = waiting_run
    follower = _follow(run_id)
    reader = _Reader(follower)
    _wait_for(lambda: "before the wait" in reader.text(), "the first line")
    assert follower.poll() is None  # the run goes on, so does the follower
    go.touch()
    code, stderr = reader.finish(follower, timeout=60)
    assert code == 0, stderr
    messages = [line.rsplit(" | ", 1)[1] for line in reader.text().splitlines()]
    assert [m for m in messages if "the wait" in m] == [
        "before the wait",
        "after the wait 0",
        "after the wait 1",
        "after the wait 2",
    ]
    assert messages[-1].startswith("Finished in state Completed")


def test_follow_ends_cleanly_on_ctrl_c_with_its_json_closed(
    waiting_run: tuple[str, Path],
) -> None:
    run_id, _ = waiting_run
    follower = _follow(run_id, "--json")
    reader = _Reader(follower)
    _wait_for(lambda: "before the wait" in reader.text(), "the first line")
    follower.send_signal(signal.SIGINT)
    code, stderr = reader.finish(follower, timeout=30)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    messages = [line["message"] for line in json.loads(reader.text())]
    assert [m for m in messages if "the wait" in m] == ["before the wait"]


# -- show ----------------------------------------------------------------------------


def test_show_prints_counts_by_task_and_state_and_the_first_task_runs(
    runs: dict[str, str],
) -> None:
    done = run_legato("runs", "show", runs["wide"])

    assert done.returncode == 0, done.stderr
    out = done.stdout
    counts = {tuple(line.split()) for line in out.splitlines()}
    assert ("step", "Completed", f"{TASKS:,}") in counts
    assert ("boom", "Failed", "3") in counts
    assert ("total", f"{TASKS + 3:,}") in counts
    shown = [line.split()[0] for line in out.splitlines() if line.startswith("step-")]
    assert shown == [f"step-{i}" for i in range(100)]
    assert f"showing 100 of {TASKS + 3} task runs" in out
    assert "--all-tasks" in out


def test_show_tasks_and_all_tasks_choose_how_many_task_runs(runs: dict[str, str]) -> None:
    few = cli("runs", "show", runs["wide"], "--tasks", "5")
    assert few.exit_code == 0, few.output
    assert [line.split()[0] for line in few.stdout.splitlines() if line.startswith("step-")] == [
        f"step-{i}" for i in range(5)
    ]

    every = cli("runs", "show", runs["wide"], "--all-tasks")
    assert every.exit_code == 0, every.output
    names = [line.split()[0] for line in every.stdout.splitlines() if line.strip()]
    assert [n for n in names if n.startswith("step-")] == [f"step-{i}" for i in range(TASKS)]
    assert [n for n in names if n.startswith("boom-")] == ["boom-0", "boom-1", "boom-2"]
    assert "showing" not in every.stdout


def test_show_json_has_the_summary_and_pages_of_task_runs(runs: dict[str, str]) -> None:
    done = run_legato("runs", "show", runs["wide"], "--json", "--all-tasks")

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert done.stdout == json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    assert list(document)[-3:] == ["task_run_summary", "task_runs", "state_history"]
    summary = document["task_run_summary"]
    assert summary["task_runs"] == TASKS + 3
    assert {(c["task"], c["state_name"], c["count"]) for c in summary["counts"]} == {
        ("step", "Completed", TASKS),
        ("boom", "Failed", 3),
    }
    task_runs = document["task_runs"]
    assert len(task_runs) == TASKS + 3
    assert len({task_run["id"] for task_run in task_runs}) == TASKS + 3
    assert [s["name"] for s in task_runs[0]["state_history"]] == [
        "Pending",
        "Running",
        "Completed",
    ]
    assert [s["name"] for s in document["state_history"]][-1] == "Failed"

    default = cli("runs", "show", runs["wide"], "--json")
    assert len(json.loads(default.stdout)["task_runs"]) == 100
