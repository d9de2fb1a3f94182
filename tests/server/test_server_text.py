"""Text that is not valid Unicode, through a real server on SQLite and on PostgreSQL.

JSON can escape a lone surrogate (``"\\udce9"``: what Python makes of a file name
that is not UTF-8). Parameters holding one are refused with a 422 naming them;
free text (log lines, names) is stored with the character replaced; a row an older
version stored with one never makes a listing fail; a flow in client mode loses
nothing to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures.postgres import BACKENDS
from fixtures.servers import ServerProcess, backend_home, running_server
from legato.ids import new_id

pytestmark = pytest.mark.slow

BAD = os.fsdecode(b"caf\xe9.csv")  # "caf\udce9.csv": json.dumps escapes it as \udce9
SHOWN = "caf\ufffd.csv"
JSON_TYPE = {"Content-Type": "application/json"}


class Served:
    def __init__(self, server: ServerProcess, home: Path, database_url: str | None):
        self.server = server
        self.url = server.url
        self.database_url = database_url or f"sqlite:///{home / 'legato.db'}"
        self.home = home


@pytest.fixture(params=BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    """A server of its own per test: the tests read back everything stored."""
    with (
        backend_home(request, tmp_path) as (home, database_url),
        running_server(home, tmp_path / "server.log", database_url) as started,
    ):
        yield Served(started, home, database_url)


def send(api: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    """Send ``body`` as JSON text with lone surrogates escaped (``json.dumps``'s way)."""
    return api.request(method, path, content=json.dumps(body).encode(), headers=JSON_TYPE)


def flow_run_body(
    flow_run_id: str, parameters: dict[str, Any] | None = None, name: str = "text-run"
) -> dict[str, Any]:
    now = time.time()
    return {
        "row": {
            "id": flow_run_id,
            "flow_name": "text",
            "name": name,
            "parameters": parameters or {},
            "tags": [],
            "created": now,
        },
        "state": {"type": "RUNNING", "name": "Running", "timestamp": now},
    }


def test_flow_run_parameters_not_unicode_are_refused_with_422(served: Served) -> None:
    flow_run_id = new_id()
    with httpx.Client(base_url=served.url, timeout=30) as api:
        body = flow_run_body(flow_run_id, {"path": BAD})
        answer = send(api, "POST", "/api/orchestrator/flow_runs", body)
        assert answer.status_code == 422, answer.text
        assert "parameters.path" in answer.json()["detail"]
        assert "not valid Unicode" in answer.json()["detail"]
        assert api.get(f"/api/flow_runs/{flow_run_id}").status_code == 404
        assert api.get("/api/flow_runs").status_code == 200
        # a name is free text: stored with the character replaced
        named = send(
            api, "POST", "/api/orchestrator/flow_runs", flow_run_body(flow_run_id, name=BAD)
        )
        assert named.status_code == 200, named.text
        assert api.get(f"/api/flow_runs/{flow_run_id}").json()["name"] == SHOWN


def deployment_spec(parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "flow_name": "text",
        "name": "files",
        "entrypoint": "flows.py:text",
        "parameters": parameters or {},
    }


def test_deployment_parameters_not_unicode_are_refused_with_422(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as api:
        refused = send(api, "PUT", "/api/deployments", deployment_spec({"path": BAD}))
        assert refused.status_code == 422, refused.text
        assert "parameters.path" in refused.json()["detail"]
        assert api.get("/api/deployments").json() == []

        made = send(api, "PUT", "/api/deployments", deployment_spec())
        assert made.status_code == 200, made.text
        deployment_id = made.json()["id"]
        run = send(
            api, "POST", f"/api/deployments/{deployment_id}/runs", {"parameters": {"path": BAD}}
        )
        assert run.status_code == 422, run.text
        assert "parameters.path" in run.json()["detail"]
        assert api.get("/api/flow_runs", params={"flow_name": "text"}).json() == []


def test_rows_an_older_version_stored_do_not_break_listings(served: Served) -> None:
    """Rows holding an escaped lone surrogate in their JSON, as an older legato stored
    them: every listing still answers, with the character replaced."""
    flow_run_id = new_id()
    with httpx.Client(base_url=served.url, timeout=30) as api:
        assert send(
            api, "POST", "/api/orchestrator/flow_runs", flow_run_body(flow_run_id)
        ).is_success
        made = send(api, "PUT", "/api/deployments", deployment_spec())
        assert made.status_code == 200, made.text
        deployment_id = made.json()["id"]

        engine = sa.create_engine(served.database_url)
        stored = json.dumps({"path": BAD})  # ASCII: the surrogate escaped
        assert "\\udce9" in stored
        with engine.begin() as conn:
            for table, row_id in (("flow_runs", flow_run_id), ("deployments", deployment_id)):
                conn.execute(
                    sa.text(f"UPDATE {table} SET parameters = :p WHERE id = :id"),
                    {"p": stored, "id": row_id},
                )
            conn.execute(
                sa.text("UPDATE flow_runs SET tags = :t WHERE id = :id"),
                {"t": json.dumps([BAD]), "id": flow_run_id},
            )
        engine.dispose()

        for path in (
            "/api/flow_runs",
            f"/api/flow_runs/{flow_run_id}",
            "/api/deployments",
            f"/api/deployments/{deployment_id}",
        ):
            answer = api.get(path)
            assert answer.status_code == 200, (path, answer.text)
            assert SHOWN in answer.text.encode().decode() or SHOWN in json.dumps(
                answer.json(), ensure_ascii=False
            )
        run = api.get(f"/api/flow_runs/{flow_run_id}").json()
        assert run["parameters"] == {"path": SHOWN}
        assert run["tags"] == [SHOWN]


def bulk_body(flow_run_id: str, task_run_id: str) -> dict[str, Any]:
    now = time.time()
    row = {
        "id": task_run_id,
        "flow_run_id": flow_run_id,
        "name": f"load {BAD}",
        "task_key": "text.t",
        "dynamic_key": 0,
        "tags": [],
        "state_type": "FAILED",
        "state_name": "Failed",
        "state_message": f"no file {BAD}",
        "state_timestamp": now,
        "run_count": 1,
        "created": now,
    }
    log = {
        "flow_run_id": flow_run_id,
        "task_run_id": task_run_id,
        "timestamp": now,
        "level": "INFO",
        "logger": "text",
        "message": f"reading {BAD}",
    }
    state = {"task_run_id": task_run_id, "type": "FAILED", "name": "Failed", "timestamp": now}
    return {"batch_id": new_id(), "task_runs": [row], "states": [state], "logs": [log]}


def test_bulk_text_not_unicode_is_stored_with_the_character_replaced(served: Served) -> None:
    flow_run_id, task_run_id = new_id(), new_id()
    with httpx.Client(base_url=served.url, timeout=30) as api:
        assert send(
            api, "POST", "/api/orchestrator/flow_runs", flow_run_body(flow_run_id)
        ).is_success
        answer = send(api, "POST", "/api/bulk", bulk_body(flow_run_id, task_run_id))
        assert answer.status_code == 200, answer.text
        (task_run,) = api.get(f"/api/flow_runs/{flow_run_id}/task_runs").json()
        assert task_run["name"] == f"load {SHOWN}"
        assert task_run["state"]["message"] == f"no file {SHOWN}"
        logs = api.get(f"/api/flow_runs/{flow_run_id}/logs").json()
        assert [line["message"] for line in logs] == [f"reading {SHOWN}"]


CLIENT_FLOW = """
import os
import sys

from legato import flow, get_run_logger, task

BAD = os.fsdecode(b"caf\\xe9.csv")


@task
def read_file(name: str) -> str:
    get_run_logger().info("reading %s", name)
    raise ValueError(f"cannot read {name}")


@task
def count(i: int) -> int:
    get_run_logger().info("counted %d", i)
    return i


@flow(log_prints=True)
def client_text() -> int:
    print(f"found {BAD}")
    total = sum(f.result() for f in count.map(range(30)))
    assert read_file(BAD, return_state=True).is_failed()
    return total


@flow
def client_param(path: str) -> str:
    return path


if __name__ == "__main__":
    if sys.argv[1] == "param":
        client_param(BAD)
    else:
        state = client_text(return_state=True)
        print("final", state.name, state.result())
"""


def run_client_flow(served: Served, tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    flow_file = tmp_path / "client_text.py"
    flow_file.write_text(CLIENT_FLOW)
    env = {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "client-home"),
        "LEGATO_API_URL": served.url,
    }
    return subprocess.run(
        [sys.executable, str(flow_file), mode],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )


def test_client_mode_flow_with_text_not_unicode_loses_nothing(
    served: Served, tmp_path: Path
) -> None:
    done = run_client_flow(served, tmp_path, "text")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"final Completed {sum(range(30))}" in done.stdout
    with httpx.Client(base_url=served.url, timeout=30) as api:
        (run,) = api.get("/api/flow_runs", params={"flow_name": "client-text"}).json()
        assert run["state"]["name"] == "Completed"
        task_runs = api.get(f"/api/flow_runs/{run['id']}/task_runs").json()
        assert len(task_runs) == 31
        failed = next(t for t in task_runs if t["name"].startswith("read_file"))
        assert failed["state"]["message"] == f"ValueError: cannot read {SHOWN}"
        messages = [line["message"] for line in api.get(f"/api/flow_runs/{run['id']}/logs").json()]
        assert f"found {SHOWN}" in messages
        assert f"reading {SHOWN}" in messages

    refused = run_client_flow(served, tmp_path, "param")
    assert refused.returncode != 0
    assert "ParameterValidationError" in refused.stderr
    assert "parameters.path" in refused.stderr
    with httpx.Client(base_url=served.url, timeout=30) as api:
        assert api.get("/api/flow_runs", params={"flow_name": "client-param"}).json() == []
