"""API keys on a real server process: once a key exists, every request needs one.

Keys are made in the server's store before it starts (``legato api-key create`` acts
on that store); flows run in subprocesses in client mode, as a user's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.commands import run_legato
from fixtures.servers import ServerProcess, running_server, start_server
from legato.store import Store

pytestmark = pytest.mark.slow

FLOW_FILE = """
from legato import flow, get_run_logger, task


@task
def double(x: int) -> int:
    return 2 * x


@flow
def keyed_flow() -> int:
    get_run_logger().info("keyed flow starting")
    return sum(double.map([1, 2, 3]).result())


if __name__ == "__main__":
    print("result", keyed_flow())
"""


@dataclass
class Keyed:
    home: Path
    server: ServerProcess
    key: str
    read_only_key: str
    folder: Path

    @property
    def url(self) -> str:
        return self.server.url


def _create_keys(home: Path) -> tuple[str, str]:
    store = Store(f"sqlite:///{home / 'legato.db'}")
    try:
        _, key = store.create_api_key("writer")
        _, read_only_key = store.create_api_key("reader", read_only=True)
    finally:
        store.close()
    return key, read_only_key


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    folder = tmp_path_factory.mktemp("keyed")
    home = folder / "home"
    key, read_only_key = _create_keys(home)
    with running_server(home, folder / "server.log") as server:
        yield Keyed(home, server, key, read_only_key, folder)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _flow_runs(keyed: Keyed) -> list[dict[str, Any]]:
    response = httpx.get(f"{keyed.url}/api/flow_runs", headers=_auth(keyed.key), timeout=30)
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()
    return runs


def _run_flow(keyed: Keyed, tmp_path: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    flow_file = tmp_path / "keyed_flow.py"
    flow_file.write_text(FLOW_FILE)
    env = {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "client-home"),
        "LEGATO_API_URL": keyed.url,
        "LEGATO_CLIENT_MAX_OUTAGE": "60",
    }
    env.pop("LEGATO_API_KEY", None)
    if key is not None:
        env["LEGATO_API_KEY"] = key
    return subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=120
    )


def test_health_stays_open(keyed: Keyed) -> None:
    response = httpx.get(f"{keyed.url}/api/health", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/flow_runs"),
        ("GET", "/api/flow_runs/0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e/logs"),
        ("POST", "/api/bulk"),
    ],
)
def test_no_key_is_401(keyed: Keyed, method: str, path: str) -> None:
    response = httpx.request(method, f"{keyed.url}{path}", json={}, timeout=30)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert "requires an API key" in response.json()["detail"]
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "authorization", ["Bearer lgk_not-a-key", "Bearer", "Basic dXNlcjpwYXNz", "lgk_raw"]
)
def test_bad_key_is_401(keyed: Keyed, authorization: str) -> None:
    response = httpx.get(
        f"{keyed.url}/api/flow_runs", headers={"Authorization": authorization}, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["detail"]


def test_key_of_another_server_is_401(keyed: Keyed) -> None:
    response = httpx.get(f"{keyed.url}/api/flow_runs", headers=_auth(keyed.key + "x"), timeout=30)
    assert response.status_code == 401
    assert "not valid" in response.json()["detail"]


def test_read_only_key_reads(keyed: Keyed) -> None:
    response = httpx.get(
        f"{keyed.url}/api/flow_runs", headers=_auth(keyed.read_only_key), timeout=30
    )
    assert response.status_code == 200
    assert isinstance(response.json(), list)


def test_good_key_runs_a_flow_in_client_mode(keyed: Keyed, tmp_path: Path) -> None:
    done = _run_flow(keyed, tmp_path, keyed.key)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "result 12" in done.stdout
    runs = [r for r in _flow_runs(keyed) if r["flow_name"] == "keyed-flow"]
    assert len(runs) >= 1
    run = runs[0]
    assert run["state"]["name"] == "Completed"
    task_runs = httpx.get(
        f"{keyed.url}/api/flow_runs/{run['id']}/task_runs", headers=_auth(keyed.key), timeout=30
    ).json()
    assert len(task_runs) == 3
    assert {t["state"]["name"] for t in task_runs} == {"Completed"}
    logs = httpx.get(
        f"{keyed.url}/api/flow_runs/{run['id']}/logs", headers=_auth(keyed.key), timeout=30
    ).json()
    assert "keyed flow starting" in [line["message"] for line in logs]
    assert not (tmp_path / "client-home" / "legato.db").exists()


def test_flow_without_key_fails_clearly_and_records_nothing(keyed: Keyed, tmp_path: Path) -> None:
    before = _flow_runs(keyed)
    done = _run_flow(keyed, tmp_path, None)
    assert done.returncode != 0
    assert "requires an API key: set LEGATO_API_KEY" in done.stderr
    assert "HTTP 401" in done.stderr
    assert _flow_runs(keyed) == before


def test_read_only_key_cannot_run_a_flow(keyed: Keyed, tmp_path: Path) -> None:
    before = _flow_runs(keyed)
    done = _run_flow(keyed, tmp_path, keyed.read_only_key)
    assert done.returncode != 0
    assert "HTTP 403" in done.stderr
    assert "'reader' is read-only" in done.stderr
    assert _flow_runs(keyed) == before


def test_read_only_key_cannot_change_a_state(keyed: Keyed, tmp_path: Path) -> None:
    assert _run_flow(keyed, tmp_path, keyed.key).returncode == 0
    run = _flow_runs(keyed)[0]
    url = f"{keyed.url}/api/flow_runs/{run['id']}/state"
    proposal = {"type": "RUNNING", "name": "Running"}
    response = httpx.post(url, json=proposal, headers=_auth(keyed.read_only_key), timeout=30)
    assert response.status_code == 403
    assert "read-only" in response.json()["detail"]
    bulk = httpx.post(
        f"{keyed.url}/api/bulk",
        json={"task_runs": [], "updates": [], "states": [], "inputs": [], "logs": []},
        headers=_auth(keyed.read_only_key),
        timeout=30,
    )
    assert bulk.status_code == 403
    after = httpx.get(
        f"{keyed.url}/api/flow_runs/{run['id']}", headers=_auth(keyed.key), timeout=30
    ).json()
    assert after == run


def test_deleted_key_is_refused_soon(keyed: Keyed) -> None:
    store = Store(f"sqlite:///{keyed.home / 'legato.db'}")
    try:
        _, key = store.create_api_key("temporary")
        url = f"{keyed.url}/api/flow_runs"
        deadline = time.monotonic() + 15
        while httpx.get(url, headers=_auth(key), timeout=30).status_code != 200:
            assert time.monotonic() < deadline, "a new key was not accepted"
            time.sleep(0.2)
        store.delete_api_key("temporary")
    finally:
        store.close()
    deadline = time.monotonic() + 15
    while httpx.get(url, headers=_auth(key), timeout=30).status_code != 401:
        assert time.monotonic() < deadline, "a deleted key was still accepted"
        time.sleep(0.2)


def test_key_use_is_recorded(keyed: Keyed) -> None:
    _flow_runs(keyed)
    store = Store(f"sqlite:///{keyed.home / 'legato.db'}")
    try:
        used = {record.name: record.last_used for record in store.list_api_keys()}
    finally:
        store.close()
    assert used["writer"] is not None


def test_openapi_documents_401_and_403(keyed: Keyed) -> None:
    spec = httpx.get(f"{keyed.url}/api/openapi.json", timeout=30).json()
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            if path == "/api/health":
                assert "401" not in operation["responses"]
            elif path.startswith("/hooks/"):  # a key only if the webhook wants one
                assert {"401", "403"} <= set(operation["responses"]), path
                assert operation["security"] == [{}, {"HTTPBearer": []}]
            else:
                assert {"401", "403"} <= set(operation["responses"]), path
                assert operation["security"] == [{"HTTPBearer": []}]


def test_non_loopback_bind_without_a_key_is_refused(tmp_path: Path) -> None:
    done = run_legato(
        "server",
        "start",
        "--host",
        "0.0.0.0",
        env={**os.environ, "LEGATO_HOME": str(tmp_path / "home")},
        timeout=60,
    )
    assert done.returncode == 1
    assert "refusing to serve on 0.0.0.0" in done.stderr
    assert "legato api-key create" in done.stderr
    assert "--insecure" in done.stderr
    assert "serving" not in done.stdout


@pytest.mark.parametrize("setup", ["key", "insecure"])
def test_non_loopback_bind_starts_with_a_key_or_insecure(tmp_path: Path, setup: str) -> None:
    home = tmp_path / "home"
    options: tuple[str, ...] = ()
    if setup == "key":
        _create_keys(home)
    else:
        options = ("--insecure",)
    server = start_server(
        home, tmp_path / "server.log", worker=True, host="0.0.0.0", options=options
    )
    try:
        response = httpx.get(f"{server.url}/api/flow_runs", timeout=30)
        assert response.status_code == (401 if setup == "key" else 200)
    finally:
        assert server.stop() == 0


def test_loopback_server_without_keys_stays_open(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", tmp_path / "server.log")
    try:
        assert httpx.get(f"{server.url}/api/flow_runs", timeout=30).status_code == 200
    finally:
        assert server.stop() == 0


def test_network_server_stays_closed_when_its_last_key_is_deleted(tmp_path: Path) -> None:
    """Deleting the last key of a server bound beyond loopback used to open it to
    the network within a second (reads and writes answered 200 without a key)."""
    home = tmp_path / "home"
    _create_keys(home)
    server = start_server(home, tmp_path / "server.log", host="0.0.0.0")
    try:
        store = Store(f"sqlite:///{home / 'legato.db'}")
        try:
            for record in store.list_api_keys():
                store.delete_api_key(record.name)
        finally:
            store.close()

        pause = f"{server.url}/api/work_pools/default/pause"
        deadline = time.monotonic() + 30
        while "no API key is stored any more" not in server.log():
            assert time.monotonic() < deadline, server.log()
            read = httpx.get(f"{server.url}/api/flow_runs", timeout=30)
            write = httpx.post(pause, headers={"Content-Type": "application/json"}, timeout=30)
            assert (read.status_code, write.status_code) == (401, 401)
            time.sleep(0.2)

        read = httpx.get(f"{server.url}/api/flow_runs", timeout=30)
        guessed = httpx.get(f"{server.url}/api/flow_runs", headers=_auth("lgk_guess"), timeout=30)
        assert (read.status_code, guessed.status_code) == (401, 401)
        assert "no API key exists any more" in read.json()["detail"]
        assert "legato api-key create" in read.json()["detail"]
        assert httpx.get(f"{server.url}/api/health", timeout=30).status_code == 200
        assert "refuses every request but /api/health" in server.log()
    finally:
        assert server.stop() == 0
    store = Store(f"sqlite:///{home / 'legato.db'}")
    try:
        assert [pool.name for pool in store.read_work_pools() if pool.paused] == []
    finally:
        store.close()
