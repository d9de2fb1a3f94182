"""Paging and filtering thousands of flow runs over HTTP, on SQLite and PostgreSQL.

A real server over a store holding 2,500 runs (see tests/fixtures/many_runs.py); pages are
followed through the ``X-Next-Cursor`` header as a client would, and through
``legato.get_client()`` in client mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.many_runs import BASE, RUNS, fill_flow_runs
from fixtures.postgres import BACKENDS
from fixtures.servers import ServerProcess, backend_home, running_server
from legato.schemas import NEXT_CURSOR_HEADER
from legato.store import Store


class Paged:
    def __init__(self, server: ServerProcess, rows: list[dict[str, Any]]):
        self.server = server
        self.rows = rows


@pytest.fixture(scope="module", params=BACKENDS)
def paged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Paged]:
    folder: Path = tmp_path_factory.mktemp(f"paged-{request.param}")
    with backend_home(request, folder) as (home, url):
        store = Store(url or f"sqlite:///{home / 'legato.db'}")
        try:
            rows = fill_flow_runs(store)
        finally:
            store.close()
        with running_server(home, folder / "server.log", url) as server:
            yield Paged(server, rows)


@pytest.fixture
def http(paged: Paged) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=paged.server.url, timeout=30) as client:
        yield client


def _follow(http: httpx.Client, params: dict[str, Any]) -> tuple[list[str], int]:
    """Every page through the cursor header: ids in order, and how many requests."""
    ids: list[str] = []
    requests = 0
    query = dict(params)
    while True:
        answer = http.get("/api/flow_runs", params=query)
        requests += 1
        assert answer.status_code == 200, answer.text
        ids += [run["id"] for run in answer.json()]
        cursor = answer.headers.get(NEXT_CURSOR_HEADER)
        if cursor is None:
            return ids, requests
        query = {**params, "cursor": cursor}


def test_cursor_pages_cover_thousands_of_runs_once(http: httpx.Client, paged: Paged) -> None:
    ids, requests = _follow(http, {"limit": 200})
    assert ids == [row["id"] for row in paged.rows]
    assert requests == -(-RUNS // 200)


def test_offset_pages_agree_with_cursor_pages(http: httpx.Client, paged: Paged) -> None:
    offsets = [
        run["id"]
        for offset in range(0, RUNS, 500)
        for run in http.get("/api/flow_runs", params={"limit": 500, "offset": offset}).json()
    ]
    assert offsets == [row["id"] for row in paged.rows]


def test_tag_filter_with_repeated_parameter_pages(http: httpx.Client, paged: Paged) -> None:
    ids, _ = _follow(http, {"tag": ["even", "third"], "limit": 100})
    expected = [r["id"] for r in paged.rows if {"even", "third"} <= set(r["tags"])]
    assert len(expected) == -(-RUNS // 6)
    assert ids == expected


def test_state_and_time_range_filters_page(http: httpx.Client, paged: Paged) -> None:
    after = datetime.fromtimestamp(BASE + 1000, UTC).isoformat()
    before = datetime.fromtimestamp(BASE + 5000, UTC).isoformat()
    params = {"state": "failed", "created_after": after, "created_before": before, "limit": 9}
    ids, _ = _follow(http, params)
    expected = [
        r["id"]
        for r in paged.rows
        if r["state_type"] == "FAILED" and BASE + 1000 <= r["created"] < BASE + 5000
    ]
    assert expected
    assert ids == expected


def test_a_page_ending_exactly_at_the_last_run_has_no_cursor(http: httpx.Client) -> None:
    last = http.get("/api/flow_runs", params={"limit": 1000, "offset": RUNS - 1000})
    assert len(last.json()) == 1000
    assert NEXT_CURSOR_HEADER not in last.headers
    before = http.get("/api/flow_runs", params={"limit": 1000, "offset": RUNS - 1001})
    assert NEXT_CURSOR_HEADER in before.headers


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "nonsense"}, "cursor"),
        ({"cursor": "1e999_0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e"}, "cursor"),
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_after": "196"}, "created_after"),  # a number is not a time here
        ({"due_after": "196"}, "due_after"),
        ({"due_before": "-1.5"}, "due_before"),
        ({"order": "random"}, "order"),
        ({"tag": "x" * 300}, "tag"),
    ],
)
def test_bad_paging_parameters_are_named(
    http: httpx.Client, params: dict[str, str], field: str
) -> None:
    answer = http.get("/api/flow_runs", params=params)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["detail"]


def test_client_mode_pages_like_the_store(paged: Paged, monkeypatch: pytest.MonkeyPatch) -> None:
    from legato.orchestrator.default import reset_default_orchestrator

    monkeypatch.setenv("LEGATO_API_URL", paged.server.url)
    reset_default_orchestrator()
    from legato import get_client
    from legato.schemas import FlowRunFilter

    client = get_client()
    where = FlowRunFilter(tags=("third",), flow_name="report")
    ids: list[str] = []
    page = client.read_flow_run_page(where, limit=50)
    ids += [run.id for run in page.flow_runs]
    while page.next_cursor:
        page = client.read_flow_run_page(where, limit=50, cursor=page.next_cursor)
        ids += [run.id for run in page.flow_runs]
    expected = [r["id"] for r in paged.rows if r["flow_name"] == "report" and "third" in r["tags"]]
    assert ids == expected
    assert [r.id for r in client.read_flow_runs(tags=["third"], flow_name="report")] == (
        expected[:50]
    )
