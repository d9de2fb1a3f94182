"""Task runs called outside any flow, made by a script in client mode and read back
through a real server: the HTTP listing and its cursor pages, the logs of one task run,
and ``legato task-runs`` pointed at the server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.servers import ServerProcess, running_server

SCRIPT = """
from legato import flow, get_run_logger, task


@task(task_run_name="step-{n}")
def step(n):
    get_run_logger().info("step %d", n)
    return n


@task
def broken():
    get_run_logger().error("giving up")
    get_run_logger().warning("last words")
    raise RuntimeError("no way through")


@flow
def inside():
    return step(99)


@task
def tick():
    return 1


tick()
tick()
for n in range(3):
    step(n)
inside()
state = broken(return_state=True)
print("broken", state.run_id)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("standalone-api")
    with running_server(folder / "server-home", folder / "server.log") as started:
        script = folder / "script.py"
        script.write_text(SCRIPT)
        done = subprocess.run(
            [sys.executable, str(script)],
            env=legato_env(folder / "client", api_url=started.url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "could not record" not in done.stderr, done.stderr
        yield started


def test_the_listing_pages_newest_first_without_task_runs_of_flows(
    server: ServerProcess,
) -> None:
    seen: list[dict[str, object]] = []
    cursors: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as api:
        params: dict[str, object] = {"standalone": "true", "limit": 2}
        while True:
            response = api.get("/api/task_runs", params=params)
            assert response.status_code == 200, response.text
            seen.extend(response.json())
            cursor = response.headers.get("X-Next-Cursor")
            if cursor is None:
                break
            cursors.append(cursor)
            params["cursor"] = cursor
        assert len(cursors) == 2  # six task runs, three pages of two
        assert [(run["name"], run["state"]["name"]) for run in seen] == [  # type: ignore[index]
            ("broken-0", "Failed"),
            ("step-2", "Completed"),
            ("step-1", "Completed"),
            ("step-0", "Completed"),
            ("tick-0", "Completed"),
            ("tick-0", "Completed"),
        ]
        assert {run["flow_run_id"] for run in seen} == {None}

        refused = api.get("/api/task_runs", params={"standalone": "false"})
        assert refused.status_code == 422
        assert "/api/flow_runs/{flow_run_id}/task_runs" in refused.text
        assert api.get("/api/task_runs").status_code == 422  # standalone=true is required
        bad = api.get("/api/task_runs", params={"standalone": "true", "cursor": "nope"})
        assert bad.status_code == 422


def test_the_logs_of_one_task_run_and_its_id_from_a_name(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as api:
        found = api.get("/api/task_runs/resolve_id", params={"prefix": "broken-0"})
        assert found.status_code == 200, found.text
        broken = found.json()["id"]
        lines = api.get(f"/api/task_runs/{broken}/logs").json()
        assert [line["message"] for line in lines[:2]] == ["giving up", "last words"]
        assert {(line["task_run_id"], line["flow_run_id"]) for line in lines} == {(broken, None)}
        errors_only = api.get(f"/api/task_runs/{broken}/logs", params={"level": "error"}).json()
        assert "last words" not in [line["message"] for line in errors_only]
        assert {line["level"] for line in errors_only} <= {"ERROR", "CRITICAL"}

        first = api.get(f"/api/task_runs/{broken}/logs", params={"limit": 1})
        assert [line["message"] for line in first.json()] == ["giving up"]
        rest = api.get(
            f"/api/task_runs/{broken}/logs", params={"cursor": first.headers["X-Next-Cursor"]}
        ).json()
        assert rest == lines[1:]

        # Calls outside a flow each start their task's count again: a shared name is
        # refused with the candidates.
        shared = api.get("/api/task_runs/resolve_id", params={"prefix": "tick-0"})
        assert shared.status_code == 404
        assert "2 task runs are named 'tick-0'" in shared.json()["detail"]

        unknown = api.get("/api/task_runs/resolve_id", params={"prefix": "nothing-here"})
        assert unknown.status_code == 404
        assert "legato task-runs ls" in unknown.json()["detail"]


def test_the_cli_in_client_mode(server: ServerProcess, tmp_path: Path) -> None:
    env = legato_env(tmp_path / "cli-home", api_url=server.url)
    listed = json.loads(run_legato("task-runs", "ls", "--json", env=env, check=True).stdout)
    assert [run["name"] for run in listed] == [
        "broken-0",
        "step-2",
        "step-1",
        "step-0",
        "tick-0",
        "tick-0",
    ]
    assert [
        run["name"]
        for run in json.loads(
            run_legato("task-runs", "ls", "--limit", "3", "--json", env=env, check=True).stdout
        )
    ] == ["broken-0", "step-2", "step-1"]

    shown = run_legato("task-runs", "show", "step-1", env=env, check=True).stdout
    assert "step 1" in shown
    assert "Completed" in shown
    broken = json.loads(run_legato("task-runs", "show", "broken-0", "--json", env=env).stdout)
    assert broken["state"]["name"] == "Failed"
    assert "no way through" in broken["state"]["message"]
    assert [state["name"] for state in broken["state_history"]] == [
        "Pending",
        "Running",
        "Failed",
    ]
    assert broken["logs"][0]["message"] == "giving up"

    missing = run_legato("task-runs", "show", "nothing-here", env=env)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: no task run with id or name 'nothing-here'")
