"""``legato task-runs``: task runs called outside any flow, made by a real script
(``python script.py``) and read back through the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fixtures.cli import cli, run_file
from fixtures.singletons import reset_singletons

SCRIPT = textwrap.dedent(
    """
    from legato import flow, get_run_logger, task


    @task
    def greet(name):
        get_run_logger().info("hello %s", name)
        return f"hi {name}"


    @task
    def explode():
        get_run_logger().warning("about to fail")
        raise ValueError("the bridge is out")


    @flow
    def inside():
        return greet("flow")


    print(greet("ada"))
    inside()
    try:
        explode()
    except ValueError as exc:
        print("failed:", exc)
    """
)


@pytest.fixture(scope="module")
def script_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("standalone")
    home = folder / "home"
    script = folder / "script.py"
    script.write_text(SCRIPT)
    done = run_file(script, home=home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["hi ada", "failed: the bridge is out"]
    return home


@pytest.fixture
def home(script_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LEGATO_HOME", str(script_home))
    reset_singletons()
    return script_home


def _json(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_ls_lists_the_standalone_task_runs_newest_first(home: Path) -> None:
    listed = _json("task-runs", "ls")
    # The task run of the flow "inside" is not standalone: it is left out.
    assert [(r["name"], r["state"]["name"], r["flow_run_id"]) for r in listed] == [
        ("explode-0", "Failed", None),
        ("greet-0", "Completed", None),
    ]
    assert listed[1]["duration_seconds"] is not None
    assert [r["name"] for r in _json("task-runs", "ls", "--limit", "1")] == ["explode-0"]

    text = cli("task-runs", "ls")
    assert text.exit_code == 0, text.output
    header, first, second = text.stdout.strip().splitlines()
    assert header.split() == ["ID", "NAME", "STATE", "STARTED", "DURATION"]
    assert first.startswith(listed[0]["id"]) and "explode-0" in first and "Failed" in first
    assert second.startswith(listed[1]["id"]) and "greet-0" in second and "Completed" in second


def test_show_prints_the_state_history_and_the_log_lines(home: Path) -> None:
    failed, completed = _json("task-runs", "ls")

    shown = cli("task-runs", "show", completed["id"])
    assert shown.exit_code == 0, shown.output
    assert "called outside any flow" in shown.stdout
    assert "hello ada" in shown.stdout
    assert [line.split()[2] for line in _section(shown.stdout, "state history")[1:]] == [
        "Pending",
        "Running",
        "Completed",
    ]

    # By name (greet-0 is also the name of the flow's task run: only standalone ones count)
    # and by a unique start of the id.
    by_name = _json("task-runs", "show", "explode-0")
    by_prefix = _json("task-runs", "show", failed["id"][:30])
    assert by_name == by_prefix
    assert (by_name["id"], by_name["state"]["name"]) == (failed["id"], "Failed")
    assert "the bridge is out" in by_name["state"]["message"]
    assert [s["name"] for s in by_name["state_history"]] == ["Pending", "Running", "Failed"]
    first_line = by_name["logs"][0]
    assert (first_line["level"], first_line["message"]) == ("WARNING", "about to fail")
    assert {line["task_run_id"] for line in by_name["logs"]} == {failed["id"]}
    assert {line["flow_run_id"] for line in by_name["logs"]} == {None}


def _section(text: str, title: str) -> list[str]:
    """The lines of ``text`` from the one that is ``title`` to the next blank one."""
    lines = text.splitlines()
    start = lines.index(title)
    end = lines.index("", start)
    return lines[start + 1 : end]


def test_an_unknown_id_is_one_error_line(home: Path) -> None:
    result = cli("task-runs", "show", "no-such-task-run")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no task run with id or name 'no-such-task-run'; `legato task-runs ls` lists "
        "task runs called outside a flow"
    )


def test_an_empty_store_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEGATO_HOME", str(tmp_path / "empty"))
    reset_singletons()
    result = cli("task-runs", "ls")
    assert result.exit_code == 0, result.output
    assert "No task runs called outside a flow found" in result.stdout
    assert _json("task-runs", "ls") == []
