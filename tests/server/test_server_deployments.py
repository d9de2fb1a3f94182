"""Deployments over HTTP and in client mode, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.postgres import BACKENDS
from fixtures.servers import ServerProcess, backend_home, running_server

FLOW_FILE = textwrap.dedent(
    """
    from legato import flow


    @flow
    def etl(n: int, label: str = "x") -> int:
        return n
    """
)


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The module's server, without its scheduler: the tests deploy schedules and then
    count the runs stored, which a scheduler pass (every 10 s) would add to."""
    folder: Path = tmp_path_factory.mktemp(f"deployments-{request.param}")
    with (
        backend_home(request, folder) as (home, database_url),
        running_server(
            home, folder / "server.log", database_url, options=("--no-scheduler",)
        ) as started,
    ):
        yield started


def legato_cli(
    server: ServerProcess, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    env = legato_env(tmp_path / "client-home", server.url)
    return run_legato(*args, env=env, cwd=tmp_path, timeout=60)


def test_deploy_and_run_through_the_server(server: ServerProcess, tmp_path: Path) -> None:
    (tmp_path / "etl.py").write_text(FLOW_FILE)
    name = f"d-{tmp_path.name[-12:]}"
    deployed = legato_cli(
        server,
        tmp_path,
        "deploy",
        "etl.py:etl",
        "--name",
        name,
        "--cron",
        "0 2 * * *",
        "--param",
        "label=nightly",
        "--json",
    )
    assert deployed.returncode == 0, deployed.stderr
    record = json.loads(deployed.stdout)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        assert api.get(f"/api/deployments/{record['id']}").json() == record
        assert api.get("/api/deployments/lookup", params={"ref": f"etl/{name}"}).json() == record

        bad = legato_cli(server, tmp_path, "deployment", "run", f"etl/{name}", "--param", "n=x")
        assert bad.returncode == 1
        assert "parameter 'n'" in bad.stderr and "HTTP 422" in bad.stderr
        refused = api.post(f"/api/deployments/{record['id']}/runs", json={"parameters": {"n": "x"}})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["loc"] == ["body", "parameters"]
        runs = api.get("/api/flow_runs", params={"flow_name": "etl"}).json()
        assert [r for r in runs if r["deployment_id"] == record["id"]] == []  # nothing stored

        made = legato_cli(
            server, tmp_path, "deployment", "run", f"etl/{name}", "--param", "n=4", "--json"
        )
        assert made.returncode == 0, made.stderr
        run = json.loads(made.stdout)
        stored = api.get(f"/api/flow_runs/{run['id']}").json()
        assert stored["state"]["name"] == "Scheduled"
        assert stored["deployment_id"] == record["id"]
        assert stored["parameters"] == {"label": "nightly", "n": 4}

        keyed = {"parameters": {"n": 1}, "idempotency_key": f"k-{name}"}
        once = api.post(f"/api/deployments/{record['id']}/runs", json=keyed).json()
        twice = api.post(f"/api/deployments/{record['id']}/runs", json=keyed).json()
        assert once["id"] == twice["id"]

        json_type = {"Content-Type": "application/json"}  # changes need it, bodiless too
        paused = api.post(f"/api/deployments/{record['id']}/pause", headers=json_type).json()
        assert paused["paused"] is True
        deleted = api.delete(f"/api/deployments/{record['id']}", headers=json_type)
        assert deleted.json() == {"unstarted_runs_deleted": 2}
        assert api.get(f"/api/deployments/{record['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"schedules": [{"schedule": {"kind": "cron", "expr": "61 * * * *"}}]}, "minute field"),
        ({"schedules": [{"schedule": {"kind": "weekly"}}]}, "body field 'schedules.0.schedule'"),
        ({"name": "a/b"}, "body field 'name'"),
        ({"name": "."}, "body field 'name'"),
        ({"work_pool": ".."}, "body field 'work_pool'"),
        ({"entrypoint": "no-colon"}, "body field 'entrypoint'"),
        ({"colour": "red"}, "body field 'colour'"),
        (
            {"schedules": [{"schedule": {"kind": "rrule", "rule": "FREQ=HOURLY;BYHOUR=25"}}]},
            "BYHOUR=25 is out of range",
        ),
        (
            {"schedules": [{"schedule": {"kind": "rrule", "rule": "FREQ=DAILY;BYEASTER=300"}}]},
            "BYEASTER",
        ),
    ],
)
def test_bad_deployments_are_422_naming_the_problem(
    server: ServerProcess, body: dict[str, object], says: str
) -> None:
    spec = {"flow_name": "etl", "name": "refused", "entrypoint": "etl.py:etl", **body}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        answer = api.put("/api/deployments", json=spec)
        assert answer.status_code == 422, answer.text
        assert says in answer.json()["detail"]
        assert api.get("/api/deployments/lookup", params={"ref": "etl/refused"}).status_code == 404


@pytest.mark.parametrize(
    ("schedule", "start", "says"),
    [
        ({"kind": "cron", "expr": "0 0 * * *"}, "0001-01-01T00:00:00Z", "is before 0001-01-02"),
        ({"kind": "interval", "every": 3600}, "0001-01-01T00:00:00+14:00", "before year 1"),
    ],
)
def test_backfill_from_the_first_day_of_year_1_is_422_when_schedules_begin_later(
    server: ServerProcess, schedule: dict[str, object], start: str, says: str
) -> None:
    """A backfill start at 0001-01-01 overflowed while stepping back from it (500)."""
    name = f"year-one-{schedule['kind']}"
    spec = {"flow_name": "etl", "name": name, "entrypoint": "etl.py:etl"}
    with httpx.Client(base_url=server.url, timeout=30) as api:
        made = api.put("/api/deployments", json={**spec, "schedules": [{"schedule": schedule}]})
        assert made.status_code == 200, made.text
        answer = api.post(
            f"/api/deployments/{made.json()['id']}/backfill",
            json={"start": start, "end": "0001-01-05T00:00:00Z"},
        )
        assert answer.status_code == 422, answer.text
        assert says in answer.json()["detail"]
        runs = api.get("/api/flow_runs", params={"deployment_id": made.json()["id"]})
        assert runs.status_code == 200
        assert [run for run in runs.json() if run["deployment_id"] == made.json()["id"]] == []


@pytest.mark.parametrize("name", [".", ".."])
def test_a_work_pool_named_dot_or_dot_dot_is_422_when_its_urls_could_not_reach_it(
    server: ServerProcess, name: str
) -> None:
    """``/api/work_pools/../claim`` reaches the server as ``/api/claim``: such a pool was
    created, then no worker could claim its runs and no command could pause it."""
    with httpx.Client(base_url=server.url, timeout=30) as api:
        answer = api.post("/api/work_pools", json={"name": name})
        assert answer.status_code == 422, answer.text
        assert "body field 'name'" in answer.json()["detail"]
        names = [pool["name"] for pool in api.get("/api/work_pools").json()]
        assert name not in names
        assert api.post("/api/work_pools", json={"name": "..ok"}).status_code in (201, 409)
