"""Listing flow runs: tag and time filters, keyset cursors, on SQLite and PostgreSQL.

Thousands of runs are written in one transaction per test (the same columns the
store writes), with many sharing one ``created`` so that the (created, id)
tie-break is exercised on every page.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fixtures.many_runs import BASE, RUNS, fill_flow_runs
from fixtures.store_rows import FlowRunFactory
from legato.schemas import FlowRunFilter
from legato.store import Store


def _walk(store: Store, where: FlowRunFilter, limit: int) -> tuple[list[str], int]:
    """Every page of a listing through its cursors: the ids in order, and the page count."""
    ids: list[str] = []
    cursor, pages = None, 0
    while True:
        page = store.read_flow_run_page(where, limit=limit, cursor=cursor)
        pages += 1
        ids += [run.id for run in page.flow_runs]
        if page.next_cursor is None:
            return ids, pages
        assert len(page.flow_runs) == limit
        cursor = page.next_cursor


def test_cursor_pages_cover_every_run_once_in_order(store: Store) -> None:
    expected = [row["id"] for row in fill_flow_runs(store)]
    ids, pages = _walk(store, FlowRunFilter(), limit=100)
    assert ids == expected
    assert pages == RUNS // 100  # the last full page knows it is the last: no empty page


@pytest.mark.parametrize(
    ("where", "keep"),
    [
        (FlowRunFilter(tags=("even",)), lambda r: "even" in r["tags"]),
        (FlowRunFilter(tags=("even", "third")), lambda r: {"even", "third"} <= set(r["tags"])),
        (FlowRunFilter(state="FAILED"), lambda r: r["state_type"] == "FAILED"),
        (FlowRunFilter(flow_name="report"), lambda r: r["flow_name"] == "report"),
        (
            FlowRunFilter(flow_name="etl", state="Completed", tags=("third",)),
            lambda r: (
                r["flow_name"] == "etl" and r["state_name"] == "Completed" and "third" in r["tags"]
            ),
        ),
    ],
    ids=["one-tag", "two-tags", "state", "flow", "all-combined"],
)
def test_filtered_cursor_pages_match_the_filter(
    store: Store, where: FlowRunFilter, keep: Any
) -> None:
    expected = [row["id"] for row in fill_flow_runs(store) if keep(row)]
    assert expected  # the filter selects something
    ids, _ = _walk(store, where, limit=77)
    assert ids == expected


def test_created_range_is_inclusive_after_and_exclusive_before(store: Store) -> None:
    rows = fill_flow_runs(store, 300)
    after = datetime.fromtimestamp(BASE + 100, UTC)
    before = datetime.fromtimestamp(BASE + 200, UTC)
    where = FlowRunFilter(created_after=after, created_before=before)
    expected = [r["id"] for r in rows if BASE + 100 <= r["created"] < BASE + 200]
    assert len(expected) == 30  # 10 instants, three runs each
    assert _walk(store, where, limit=7)[0] == expected


def test_naive_times_are_utc_and_offsets_are_honoured(store: Store) -> None:
    rows = fill_flow_runs(store, 30)
    naive = datetime.fromtimestamp(BASE + 50, UTC).replace(tzinfo=None)
    in_paris = datetime.fromtimestamp(BASE + 50, UTC).astimezone(ZoneInfo("Europe/Paris"))
    expected = [r["id"] for r in rows if r["created"] >= BASE + 50]
    assert [r.id for r in store.read_flow_runs(created_after=naive, limit=100)] == expected
    assert [r.id for r in store.read_flow_runs(created_after=in_paris, limit=100)] == expected


def test_far_range_bounds_do_not_overflow(store: Store) -> None:
    fill_flow_runs(store, 10)
    low = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    high = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-14)))
    assert len(store.read_flow_runs(created_after=low, created_before=high)) == 10
    assert store.read_flow_runs(created_before=low) == []


def test_a_cursor_is_stable_while_new_runs_arrive(
    store: Store, make_flow_run: FlowRunFactory
) -> None:
    rows = fill_flow_runs(store, 50)
    first = store.read_flow_run_page(limit=20)
    make_flow_run(flow_name="etl", created=BASE + 10_000)  # newer than everything
    second = store.read_flow_run_page(limit=20, cursor=first.next_cursor)
    assert [r.id for r in second.flow_runs] == [r["id"] for r in rows[20:40]]


def test_tags_of_a_created_run_are_filterable(store: Store, make_flow_run: FlowRunFactory) -> None:
    tagged = make_flow_run(tags=["nightly", "etl", "nightly"])
    make_flow_run(tags=[])
    assert [r.id for r in store.read_flow_runs(tags=["nightly"])] == [tagged]
    assert [r.id for r in store.read_flow_runs(tags=["etl", "nightly"])] == [tagged]
    assert store.read_flow_runs(tags=["etl", "weekly"]) == []
    assert store.read_flow_run(tagged).tags == ["nightly", "etl", "nightly"]


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nonsense",
        "1.5",
        "1e999_0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
        "1.5_not-an-id",
        "-1.5_0192f6c4-8a1e-7d3b-9c2f-4e5a6b7c8d9e",
    ],
)
def test_a_cursor_no_page_gave_is_refused_by_name(store: Store, cursor: str) -> None:
    with pytest.raises(ValueError, match="invalid cursor"):
        store.read_flow_run_page(cursor=cursor)


def test_offset_counts_from_the_cursor(store: Store) -> None:
    rows = fill_flow_runs(store, 40)
    first = store.read_flow_run_page(limit=10)
    skipped = store.read_flow_run_page(limit=10, offset=5, cursor=first.next_cursor)
    assert [r.id for r in skipped.flow_runs] == [r["id"] for r in rows[15:25]]
