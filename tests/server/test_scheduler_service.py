"""The scheduler inside real ``legato server start`` processes, on SQLite and PostgreSQL:
schedules become Scheduled runs, a re-deploy replaces them, paused deployments get none,
overdue runs turn Late, backfill from the CLI, and two servers on one PostgreSQL database
never make a slot twice."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.postgres import BACKENDS, PostgresServer
from fixtures.servers import ServerProcess, backend_home, running_server, start_server
from fixtures.waiting import wait_until

pytestmark = pytest.mark.slow

SCHEDULER_ENV = {
    "LEGATO_SCHEDULER_INTERVAL": "0.2",
    "LEGATO_SCHEDULER_MAX_RUNS": "5",
    "LEGATO_LATE_AFTER_SECONDS": "1",
}


@pytest.fixture(autouse=True)
def scheduler_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCHEDULER_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server per backend for the module: each test deploys under names of its own
    and reads back only the runs of its flows."""
    folder = tmp_path_factory.mktemp(f"scheduler-{request.param}")
    with (
        backend_home(request, folder) as (home, database_url),
        running_server(home, folder / "server.log", database_url, env=SCHEDULER_ENV) as started,
    ):
        yield started


def deploy(url: str, name: str, schedule: dict[str, Any], **fields: Any) -> dict[str, Any]:
    spec = {
        "flow_name": f"flow-{name}",
        "name": name,
        "entrypoint": "flows.py:etl",
        "schedules": [{"schedule": schedule}],
        **fields,
    }
    answer = httpx.put(f"{url}/api/deployments", json=spec, timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def runs_of(url: str, flow_name: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"{url}/api/flow_runs", params={"flow_name": flow_name, "limit": 1000}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    return wait_until(check, what, timeout, interval=0.2)


def test_an_interval_schedule_gets_its_upcoming_runs(server: ServerProcess) -> None:
    record = deploy(server.url, "hourly", {"kind": "interval", "every": 3600})
    runs = wait_for(lambda: len(runs_of(server.url, "flow-hourly")) >= 5 or None, "5 runs")
    runs = runs_of(server.url, "flow-hourly")
    assert len(runs) == 5
    times = sorted(datetime.fromisoformat(run["expected_start_time"]) for run in runs)
    assert all(b - a == timedelta(hours=1) for a, b in itertools.pairwise(times))
    assert times[0] > datetime.now(UTC)
    assert {run["state"]["name"] for run in runs} == {"Scheduled"}
    assert {run["deployment_id"] for run in runs} == {record["id"]}


def test_redeploying_another_schedule_replaces_unstarted_runs(server: ServerProcess) -> None:
    deploy(server.url, "changing", {"kind": "interval", "every": 3600})
    wait_for(lambda: len(runs_of(server.url, "flow-changing")) >= 5 or None, "first runs")
    deploy(server.url, "changing", {"kind": "cron", "expr": "0 9 * * *"})

    def replaced() -> bool:
        runs = runs_of(server.url, "flow-changing")
        hours = {datetime.fromisoformat(run["expected_start_time"]).hour for run in runs}
        return len(runs) == 5 and hours == {9}

    wait_for(replaced, "runs of the new schedule only")


def test_a_paused_deployment_gets_no_new_runs(server: ServerProcess) -> None:
    record = deploy(server.url, "paused", {"kind": "interval", "every": 3600})
    wait_for(lambda: len(runs_of(server.url, "flow-paused")) >= 5 or None, "first runs")
    json_type = {"Content-Type": "application/json"}  # changes need it, bodiless too
    paused = httpx.post(
        f"{server.url}/api/deployments/{record['id']}/pause", headers=json_type, timeout=30
    )
    assert paused.status_code == 200
    # Pausing removes the unstarted runs its schedule made, and no pass makes new ones.
    assert runs_of(server.url, "flow-paused") == []
    other = deploy(server.url, "witness", {"kind": "interval", "every": 3600})
    wait_for(lambda: len(runs_of(server.url, "flow-witness")) >= 5 or None, "witness runs")
    assert other["paused"] is False
    assert runs_of(server.url, "flow-paused") == []
    resumed = httpx.post(
        f"{server.url}/api/deployments/{record['id']}/resume", headers=json_type, timeout=30
    )
    assert resumed.status_code == 200
    wait_for(lambda: len(runs_of(server.url, "flow-paused")) >= 5 or None, "runs again")


def test_overdue_runs_become_late(server: ServerProcess) -> None:
    record = deploy(server.url, "late", {"kind": "cron", "expr": "0 9 1 1 *"})
    due = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    made = httpx.post(
        f"{server.url}/api/deployments/{record['id']}/runs",
        json={"scheduled_time": due},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    run_id = made.json()["id"]

    def late() -> bool:
        run = httpx.get(f"{server.url}/api/flow_runs/{run_id}", timeout=30).json()
        return bool(run["state"]["name"] == "Late")

    wait_for(late, "the run to be Late")
    history = httpx.get(f"{server.url}/api/flow_runs/{run_id}/state_history", timeout=30).json()
    assert [(s["type"], s["name"]) for s in history] == [
        ("SCHEDULED", "Scheduled"),
        ("SCHEDULED", "Late"),
    ]


def legato_cli(
    server: ServerProcess, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return run_legato(*args, env=legato_env(tmp_path / "cli", server.url), timeout=60)


def test_backfill_from_the_cli_makes_past_slots_with_their_times(
    server: ServerProcess, tmp_path: Path
) -> None:
    deploy(server.url, "backfilled", {"kind": "cron", "expr": "0 * * * *"})
    start = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=6)
    args = ["deployment", "backfill", "flow-backfilled/backfilled"]
    window = ["--start", start.isoformat(), "--end", end.isoformat()]
    done = legato_cli(server, tmp_path, *args, *window, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["slots"], result["created"]) == (6, 6)
    times = sorted(
        datetime.fromisoformat(run["expected_start_time"])
        for run in runs_of(server.url, "flow-backfilled")
        if run["id"] in result["runs"]
    )
    assert times == [start + timedelta(hours=h) for h in range(6)]

    again = legato_cli(server, tmp_path, *args, *window)
    assert again.returncode == 0, again.stderr
    assert "0 run(s) made for 6 slot(s)" in again.stdout

    reversed_range = legato_cli(
        server, tmp_path, *args, "--start", end.isoformat(), "--end", start.isoformat()
    )
    assert reversed_range.returncode != 0
    assert "is not before end" in reversed_range.stderr


@pytest.mark.postgres
def test_two_servers_on_one_postgres_database_never_duplicate(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    with postgres.database() as url:
        servers: list[ServerProcess] = []
        try:
            for index in range(2):
                home = tmp_path / f"home-{index}"
                servers.append(
                    start_server(home, tmp_path / f"server-{index}.log", database_url=url)
                )
            first, second = servers
            # catchup=True with a 1-second interval: both servers keep making the same slots.
            deploy(first.url, "twice", {"kind": "interval", "every": 1}, catchup=True)
            deploy(second.url, "other", {"kind": "interval", "every": 1}, catchup=True)
            wait_for(lambda: len(runs_of(first.url, "flow-twice")) >= 15 or None, "15 runs")
            for server in servers:
                assert server.stop() == 0, server.log()
            for flow_name in ("flow-twice", "flow-other"):
                runs = runs_of_store(url, flow_name)
                assert len(runs) >= 5
                assert len(set(runs)) == len(runs), f"duplicate slots of {flow_name}"
        finally:
            for server in servers:
                if server.process.poll() is None:
                    server.stop()


def runs_of_store(url: str, flow_name: str) -> list[float]:
    """Every stored slot time of the flow's runs, read straight from the database."""
    from legato.store import Store

    store = Store(url)
    try:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT expected_start_time FROM flow_runs WHERE flow_name = %(name)s",
                {"name": flow_name},
            )
            return [row[0] for row in rows]
    finally:
        store.close()
