"""A schedule that cannot make runs (issue 8, item 14), through real ``legato server start``
processes on SQLite and PostgreSQL: refused with a 422 naming the anchor when deployed, and
one already stored (by a version that accepted it) is skipped with one log line, while the
deployment's other schedules and other deployments keep getting their runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from fixtures.postgres import BACKENDS
from fixtures.servers import ServerProcess, backend_home, running_server
from fixtures.waiting import wait_until
from legato.store import Store
from legato.store.tables import deployment_schedules

FAR_ANCHOR = {"kind": "interval", "every": 3600, "anchor": "9999-12-31T00:00:00+00:00"}
HOURLY = {"kind": "interval", "every": 3600}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, str]]:
    """One server per backend for the module (the tests use deployments of their own)."""
    folder = tmp_path_factory.mktemp(f"broken-schedules-{request.param}")
    scheduler = {"LEGATO_SCHEDULER_INTERVAL": "0.2", "LEGATO_SCHEDULER_MAX_RUNS": "3"}
    with (
        backend_home(request, folder) as (home, database_url),
        running_server(home, folder / "server.log", database_url, env=scheduler) as started,
    ):
        yield started, database_url or f"sqlite:///{home / 'legato.db'}"


def _spec(name: str, *schedules: dict[str, Any]) -> dict[str, Any]:
    return {
        "flow_name": f"flow-{name}",
        "name": name,
        "entrypoint": "flows.py:etl",
        "schedules": [{"schedule": schedule} for schedule in schedules],
    }


def _deploy(url: str, name: str, *schedules: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.put(f"{url}/api/deployments", json=_spec(name, *schedules), timeout=30)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _runs(url: str, flow_name: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/api/flow_runs", params={"flow_name": flow_name}, timeout=30)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> None:
    wait_until(check, what, timeout, interval=0.1)


def test_an_anchor_at_9999_12_31_is_refused_naming_it(
    server: tuple[ServerProcess, str],
) -> None:
    process, _ = server
    answer = httpx.put(f"{process.url}/api/deployments", json=_spec("far", FAR_ANCHOR), timeout=30)
    assert answer.status_code == 422, answer.text
    assert "anchor 9999-12-31T00:00:00" in answer.text
    assert "out of range" in answer.text
    listed = httpx.get(f"{process.url}/api/deployments", timeout=30).json()
    assert [d for d in listed if d["name"] == "far"] == []


def test_a_stored_schedule_that_cannot_run_is_skipped_with_one_log_line(
    server: tuple[ServerProcess, str],
) -> None:
    process, database_url = server
    record = _deploy(process.url, "mixed", HOURLY, HOURLY)
    _wait_for(lambda: len(_runs(process.url, "flow-mixed")) >= 3, "the first runs")
    # What an older legato stored without complaint: the second schedule anchored at the
    # end of time (written under the API, as that version did).
    store = Store(database_url)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                sa.update(deployment_schedules)
                .where(deployment_schedules.c.id == record["schedules"][1]["id"])
                .values(schedule=FAR_ANCHOR)
            )
    finally:
        store.close()
    _wait_for(lambda: "skipping schedule 2 of flow-mixed/mixed" in process.log(), "the log line")
    # Two more deployments, each waited for: the scheduler has passed again at least twice.
    for name in ("later-1", "later-2"):
        _deploy(process.url, name, HOURLY)
        _wait_for(lambda name=name: len(_runs(process.url, f"flow-{name}")) >= 3, name)
    log = process.log()
    assert log.count("skipping schedule 2 of flow-mixed/mixed") == 1, log
    assert "anchor 9999-12-31T00:00:00" in log
    assert "Traceback" not in log and "OverflowError" not in log, log
    assert len(_runs(process.url, "flow-mixed")) >= 3  # the good schedule's runs stay
