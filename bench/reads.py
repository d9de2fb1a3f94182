"""What reading a big store costs: the UI's and CLI's reads on 100,000 flow runs.

    python bench/reads.py [--flow-runs 100000] [--requests 30] [--only sqlite,postgresql]
                          [--out results.json]

For SQLite (a file in a temporary folder) and PostgreSQL (a fresh database on
127.0.0.1:5432, dropped afterwards; skipped when none answers), fills a store
made by the store's own schema code with 100,000 flow runs over 20 flows and
30 days (mostly Completed, some Failed, Crashed, Running, a few TimedOut and
Late) and about 1,000,000 task runs (10 a run, and three runs of 1,000), with
their state history and inputs; runs ANALYZE; then times each read through a
real ``legato server start`` process (httpx, after warm-up requests) and
in-process through the Store, so the server's share is visible. It also shows
each query's plan: whether it searches an index, walks one filtering rows,
scans a table or sorts.

Prints JSON on stdout (a summary on stderr): per backend and read, median and
p95 milliseconds, and whether the median meets the target of the issue: on
this store, listing the newest 50 flow runs, filtering by state and reading
one run with its task runs each answer in <= 50 ms, from indexes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from support import clean_env, legato_server, postgres_database, postgres_url, say

from legato.schemas import FlowRunFilter
from legato.schemas.task_runs import TASK_RUN_FIELDS
from legato.store import Store
from legato.store.tables import (
    flow_run_tags,
    flow_runs,
    flows,
    state_history,
    task_run_inputs,
    task_runs,
)

TARGET_MS = 50.0
DAYS = 30
N_FLOWS = 20
TASKS_PER_RUN = 10
BIG_RUN_TASKS = 1_000
N_BIG_RUNS = 3
CHUNK_RUNS = 5_000

FLOW_RUN_COLUMNS = (
    "id",
    "flow_id",
    "flow_name",
    "name",
    "parameters",
    "tags",
    "entrypoint",
    "parent_flow_run_id",
    "parent_task_run_id",
    "state_type",
    "state_name",
    "state_message",
    "state_timestamp",
    "run_count",
    "created",
    "start_time",
    "end_time",
)
TASK_RUN_COLUMNS = TASK_RUN_FIELDS
_task_run_values = itemgetter(*TASK_RUN_FIELDS)
HISTORY_COLUMNS = ("flow_run_id", "task_run_id", "type", "name", "message", "timestamp")
INPUT_COLUMNS = ("task_run_id", "parameter", "upstream_id")
TAG_COLUMNS = ("tag", "flow_run_id", "created")
FILLED = {
    flows: ("id", "name", "created"),
    flow_runs: FLOW_RUN_COLUMNS,
    flow_run_tags: TAG_COLUMNS,
    task_runs: TASK_RUN_COLUMNS,
    state_history: ("id", *HISTORY_COLUMNS, "scheduled_time"),
    task_run_inputs: ("id", *INPUT_COLUMNS),
}
"""The columns the fill writes (ids and NULLs by default aside), checked against the
schema before filling, so a changed table stops the bench with a clear message."""
TASK_NAMES = (
    "extract",
    "validate",
    "transform",
    "enrich",
    "dedupe",
    "aggregate",
    "load",
    "index",
    "report",
    "notify",
)
# (state type, state name, share of flow runs); the rest are Completed.
STATE_MIX = (
    ("FAILED", "Failed", 0.06),
    ("FAILED", "TimedOut", 0.005),
    ("CRASHED", "Crashed", 0.015),
    ("CANCELLED", "Cancelled", 0.01),
    ("RUNNING", "Running", 0.001),
    ("SCHEDULED", "Late", 0.0001),
)
ADJECTIVES = ("brave", "calm", "eager", "fuzzy", "gentle", "jolly", "lucky", "quiet", "witty")
ANIMALS = ("otter", "heron", "lynx", "marmot", "newt", "okapi", "panda", "quail", "tapir")


# -- the data --------------------------------------------------------------------------


def _uuid7(seconds: float, rng: random.Random) -> str:
    """A UUIDv7 for a given time, like :func:`legato.ids.new_id` but back-dated."""
    ms = int(seconds * 1000)
    value = (ms << 80) | (0x7 << 76) | (rng.getrandbits(12) << 64)
    value |= (0b10 << 62) | rng.getrandbits(62)
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass
class Plan:
    """What the fill makes, and the runs the bench reads back."""

    n_flow_runs: int
    now: float
    flow_names: list[str]
    flow_ids: list[str]
    big_run_indexes: set[int]
    small_run_index: int
    small_run_id: str = ""
    big_run_id: str = ""
    counts: dict[str, int] = field(default_factory=dict)


@dataclass
class Chunk:
    flow_runs: list[tuple[Any, ...]]
    task_runs: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    inputs: list[tuple[Any, ...]]
    tags: list[tuple[Any, ...]]


def check_schema() -> None:
    """Every column the fill names exists, and every column it leaves out may be NULL
    (a run of no deployment has no deployment_id, ...): a changed table stops here."""
    for table, columns in FILLED.items():
        unknown = set(columns) - set(table.c.keys())
        required = {
            column.name
            for column in table.columns
            if not column.nullable and column.autoincrement is not True and not column.primary_key
        }
        missing = required - set(columns)
        if unknown or missing:
            raise SystemExit(
                f"bench/reads.py fills {table.name} with {sorted(columns)}, but the schema "
                f"has {sorted(table.c.keys())}; update the fill in bench/reads.py to match"
            )


def make_plan(n_flow_runs: int) -> Plan:
    rng = random.Random(7)
    now = time.time()
    names = [f"{word}-{n}" for n, word in enumerate(["etl", "report", "sync", "train"] * 5)]
    return Plan(
        n_flow_runs=n_flow_runs,
        now=now,
        flow_names=names,
        flow_ids=[_uuid7(now - DAYS * 86400, rng) for _ in names],
        big_run_indexes={n_flow_runs * k // (N_BIG_RUNS + 1) + 1 for k in range(1, N_BIG_RUNS + 1)},
        small_run_index=n_flow_runs // 2,
    )


def _pick_state(rng: random.Random, index: int, plan: Plan) -> tuple[str, str]:
    if index >= plan.n_flow_runs - 20:  # the newest runs are still going
        return "RUNNING", "Running"
    if index in plan.big_run_indexes or index == plan.small_run_index:
        return "COMPLETED", "Completed"
    roll = rng.random()
    for state_type, name, share in STATE_MIX:
        if roll < share:
            return state_type, name
        roll -= share
    return "COMPLETED", "Completed"


def generate(plan: Plan) -> Iterator[Chunk]:
    """The rows, oldest first, in chunks; ids are back-dated UUIDv7s like real ones."""
    rng = random.Random(42)
    weights = [1 / (k + 1) for k in range(N_FLOWS)]  # a few busy flows, a long tail
    tag_sets = [([], "[]"), *((t, json.dumps(t)) for t in (["nightly"], ["prod", "team-data"]))]
    start = plan.now - DAYS * 86400
    step = DAYS * 86400 / plan.n_flow_runs
    chunk = Chunk([], [], [], [], [])
    for i in range(plan.n_flow_runs):
        flow = rng.choices(range(N_FLOWS), weights)[0]
        flow_name = plan.flow_names[flow]
        created = start + i * step + rng.random() * step * 0.5
        run_id = _uuid7(created, rng)
        state_type, state_name = _pick_state(rng, i, plan)
        late = state_type == "SCHEDULED"  # never started: no task runs either
        started = None if late else created + 0.2
        ended = None
        if started is not None and state_type != "RUNNING":
            ended = started + rng.expovariate(1 / 20)
        message = {"FAILED": "ValueError: bad row 17", "CRASHED": "killed by signal 9"}.get(
            state_type
        )
        roll = rng.random()
        tags, tags_json = tag_sets[2 if roll < 0.1 else 1 if roll < 0.4 else 0]
        chunk.tags += [(tag, run_id, created) for tag in tags]
        chunk.flow_runs.append(
            (
                run_id,
                plan.flow_ids[flow],
                flow_name,
                f"{rng.choice(ADJECTIVES)}-{rng.choice(ANIMALS)}",
                f'{{"day": {i % 30}, "limit": 1000}}',
                tags_json,
                f"flows/{flow_name}.py:main",
                None,
                None,
                state_type,
                state_name,
                message,
                ended or started or created + 60,
                0 if late else 1,
                created,
                started,
                ended,
            )
        )
        big = i in plan.big_run_indexes
        if i == plan.small_run_index:
            plan.small_run_id = run_id
        if big and not plan.big_run_id:
            plan.big_run_id = run_id
        if started is not None:
            chunk.history += [
                (run_id, None, "PENDING", "Pending", None, created),
                (run_id, None, "RUNNING", "Running", None, started),
            ]
            if ended is not None:
                chunk.history.append((run_id, None, state_type, state_name, message, ended))
        if started is not None:
            run = (run_id, flow_name, state_type, state_name, started)
            _task_rows(chunk, rng, run, big=big)
        if len(chunk.flow_runs) >= CHUNK_RUNS:
            yield chunk
            chunk = Chunk([], [], [], [], [])
    if chunk.flow_runs:
        yield chunk


def _task_rows(
    chunk: Chunk,
    rng: random.Random,
    run: tuple[str, str, str, str, float],
    *,
    big: bool,
) -> None:
    """Task runs of one flow run: all Completed but the last, which ends as the run did."""
    run_id, flow_name, state_type, state_name, started = run
    n = BIG_RUN_TASKS if big else TASKS_PER_RUN
    spacing = 0.05 if big else 0.3
    previous = None
    for j in range(n):
        name = "process" if big else TASK_NAMES[j]
        created = started + 0.01 + j * spacing
        task_id = _uuid7(created, rng)
        last = j == n - 1
        t_type, t_name = (state_type, state_name) if last else ("COMPLETED", "Completed")
        t_end = None if t_type == "RUNNING" else created + 0.2
        row = {
            "id": task_id,
            "flow_run_id": run_id,
            "name": name,
            "task_key": f"{flow_name}.{name}",
            "dynamic_key": j if big else 0,
            "tags": "[]",
            "state_type": t_type,
            "state_name": t_name,
            "state_message": None,
            "state_timestamp": t_end or created,
            "run_count": 1,
            "created": created,
            "start_time": created + 0.01,
            "end_time": t_end,
            "cache_key": None,
            "cache_expiration": None,
            "result_key": f"results/{task_id}.json" if t_end else None,
            "subflow_run_id": None,
        }
        chunk.task_runs.append(_task_run_values(row))
        chunk.history += [
            (run_id, task_id, "PENDING", "Pending", None, created),
            (run_id, task_id, "RUNNING", "Running", None, created + 0.01),
        ]
        if t_end is not None:
            chunk.history.append((run_id, task_id, t_type, t_name, None, t_end))
        if previous is not None:
            chunk.inputs.append((task_id, "rows", previous))
        previous = task_id


def _count(plan: Plan, chunk: Chunk) -> None:
    for name, rows in (
        ("flow_runs", chunk.flow_runs),
        ("task_runs", chunk.task_runs),
        ("state_history", chunk.history),
        ("task_run_inputs", chunk.inputs),
        ("flow_run_tags", chunk.tags),
    ):
        plan.counts[name] = plan.counts.get(name, 0) + len(rows)


def _insert_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def fill_sqlite(path: Path, plan: Plan) -> None:
    """executemany in one transaction, straight through sqlite3 (the schema is the store's)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO flows (id, name, created) VALUES (?, ?, ?)",
            [
                (fid, name, plan.now - DAYS * 86400)
                for fid, name in zip(plan.flow_ids, plan.flow_names, strict=True)
            ],
        )
        sql = {
            "flow_runs": _insert_sql("flow_runs", FLOW_RUN_COLUMNS),
            "task_runs": _insert_sql("task_runs", TASK_RUN_COLUMNS),
            "history": _insert_sql("state_history", HISTORY_COLUMNS),
            "inputs": _insert_sql("task_run_inputs", INPUT_COLUMNS),
            "tags": _insert_sql("flow_run_tags", TAG_COLUMNS),
        }
        for chunk in generate(plan):
            _count(plan, chunk)
            conn.executemany(sql["flow_runs"], chunk.flow_runs)
            conn.executemany(sql["task_runs"], chunk.task_runs)
            conn.executemany(sql["history"], chunk.history)
            conn.executemany(sql["inputs"], chunk.inputs)
            conn.executemany(sql["tags"], chunk.tags)
        conn.execute("COMMIT")
    finally:
        conn.close()


def analyze_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def fill_postgres(conninfo: str, plan: Plan) -> None:
    """COPY in one transaction through psycopg (the schema is the store's)."""
    import psycopg

    def copy(cur: Any, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as sink:
            for row in rows:
                sink.write_row(row)

    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        copy(
            cur,
            "flows",
            ("id", "name", "created"),
            [
                (fid, name, plan.now - DAYS * 86400)
                for fid, name in zip(plan.flow_ids, plan.flow_names, strict=True)
            ],
        )
        for chunk in generate(plan):
            _count(plan, chunk)
            copy(cur, "flow_runs", FLOW_RUN_COLUMNS, chunk.flow_runs)
            copy(cur, "task_runs", TASK_RUN_COLUMNS, chunk.task_runs)
            copy(cur, "state_history", HISTORY_COLUMNS, chunk.history)
            copy(cur, "task_run_inputs", INPUT_COLUMNS, chunk.inputs)
            copy(cur, "flow_run_tags", TAG_COLUMNS, chunk.tags)
        conn.commit()


def analyze_postgres(conninfo: str) -> None:
    """VACUUM ANALYZE: statistics, and the visibility map autovacuum would set by itself."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


# -- the reads -------------------------------------------------------------------------


@dataclass
class Read:
    """One read: an HTTP path on the server and the same read through the Store."""

    name: str
    path: str
    through_store: Callable[[Store], Any]
    expect: int | None  # rows (or items) the answer must hold, to catch a wrong setup
    filtered: bool = False  # a WHERE on flow_runs beyond the id: it should search an index
    target: bool = True


def _page(offset: int = 0, cursor: str | None = None, **where: Any) -> Callable[[Store], Any]:
    def read(store: Store) -> Any:
        page = store.read_flow_run_page(
            FlowRunFilter(**where), limit=50, offset=offset, cursor=cursor
        )
        return page.flow_runs

    return read


def _with_run(run_id: str, then: Callable[[Store], Any]) -> Callable[[Store], Any]:
    """What the server does for a run's sub-resource: check the run exists, then read."""

    def read(store: Store) -> Any:
        store.read_flow_run(run_id)
        return then(store)

    return read


def reads(plan: Plan, cursor: str) -> list[Read]:
    """The reads of the issue (``target``), and a few more shown for information."""
    flow = plan.flow_names[N_FLOWS // 2]
    small, big = plan.small_run_id, plan.big_run_id
    half = plan.n_flow_runs // 2
    runs = "/api/flow_runs"
    return [
        Read("list_newest_50", f"{runs}?limit=50", _page(), 50),
        Read("state_type_failed", f"{runs}?state=FAILED", _page(state="FAILED"), 50, True),
        Read("state_name_timed_out", f"{runs}?state=TimedOut", _page(state="TimedOut"), None, True),
        Read("state_name_rare_late", f"{runs}?state=Late", _page(state="Late"), None, True),
        Read("flow_name", f"{runs}?flow_name={flow}", _page(flow_name=flow), 50, True),
        Read("flow_run_by_id", f"{runs}/{small}", lambda s: s.read_flow_run(small), None),
        Read(
            "task_runs_of_10_task_run",
            f"{runs}/{small}/task_runs",
            _with_run(small, lambda s: s.read_task_runs(small)),
            TASKS_PER_RUN,
        ),
        Read(
            "task_runs_of_1000_task_run",
            f"{runs}/{big}/task_runs",
            _with_run(big, lambda s: s.read_task_runs(big)),
            BIG_RUN_TASKS,
        ),
        Read("tag", f"{runs}?tag=nightly", _page(tags=("nightly",)), 50, True, target=False),
        Read(
            "flow_run_state_history",
            f"{runs}/{small}/state_history",
            _with_run(small, lambda s: s.read_state_history(small)),
            3,
            target=False,
        ),
        Read(
            "deep_page_by_cursor",
            f"{runs}?cursor={cursor}",
            _page(cursor=cursor),
            50,
            target=False,
        ),
        Read(
            f"deep_page_by_offset_{half}",
            f"{runs}?offset={half}",
            _page(offset=half),
            50,
            target=False,
        ),
    ]


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
    }


def _time(call: Callable[[], Any], requests: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return _stats(samples)


def _size(answer: Any) -> int | None:
    return len(answer) if isinstance(answer, list) else None


def _check(read: Read, answer: Any, where: str) -> None:
    if read.expect is not None and _size(answer) != read.expect:
        raise RuntimeError(
            f"{where} answered {read.name} with {_size(answer)} items, expected {read.expect}; "
            "the fill did not make the store this bench expects"
        )


# -- plans -----------------------------------------------------------------------------


@contextmanager
def captured(engine: sa.Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs the store sends while the block runs, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


BIG_TABLES = tuple(
    t.name for t in (flow_runs, flow_run_tags, task_runs, state_history, task_run_inputs)
)


def _sqlite_verdict(sql: str, lines: list[str], filtered: bool, limited: bool) -> dict[str, Any]:
    null_columns = re.findall(r"\.(\w+) IS NULL", sql)
    null_lookup = [
        line
        for line in lines
        if line.startswith("SEARCH") and any(f"({c}=?" in line for c in null_columns)
    ]
    scans = {m.group(1) for line in lines if (m := re.match(r"SCAN (\w+)$", line))}
    walks = {m.group(1) for line in lines if (m := re.match(r"SCAN (\w+) USING", line))}
    sort = any("USE TEMP B-TREE FOR" in line and "ORDER BY" in line for line in lines)
    full_scans = sorted(scans & set(BIG_TABLES))
    filter_walk = filtered and flow_runs.name in walks
    return {
        "uses_index": any("USING" in line for line in lines),
        "full_scan": full_scans,
        "index_walk_filtering_rows": filter_walk,
        "temp_btree_sort": sort,
        "searches_by_is_null": bool(null_lookup),
        "ok": not full_scans and not filter_walk and not (limited and sort) and not null_lookup,
    }


def _postgres_verdict(text: str, filtered: bool, limited: bool) -> dict[str, Any]:
    seq = sorted({t for t in re.findall(r"Seq Scan on (\w+)", text) if t in BIG_TABLES})
    removed = sum(int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", text))
    sort = bool(re.search(r"^\s*(->\s*)?Sort\b", text, re.MULTILINE))
    filter_walk = filtered and removed > 1000
    return {
        "uses_index": "Index" in text,
        "full_scan": seq,
        "rows_removed_by_filter": removed,
        "index_walk_filtering_rows": filter_walk,
        "sort": sort,
        "ok": not seq and not filter_walk and not (limited and sort),
    }


def explain(store: Store, read: Read) -> dict[str, Any]:
    """The plan of every SELECT the store sends for ``read``, and a verdict on them.

    Not ok: a big table scanned whole; a filtered listing walking an index that
    does not hold the filter (it reads rows until 50 match: all of them for a
    rare state); a sort under a LIMIT (every match is read before the first
    row); an index looked up by ``column IS NULL`` (every NULL in the table: the
    flow-level states of every run). A sort of the rows one run owns (its task
    runs) is shown, not failed.
    """
    with captured(store.engine) as statements:
        read.through_store(store)
    found: list[dict[str, Any]] = []
    sqlite = store.engine.dialect.name == "sqlite"
    with store.engine.connect() as conn:
        for statement, parameters in statements:
            sql = re.sub(r"\s+", " ", statement)
            filtered = read.filtered and "FROM flow_runs" in sql
            limited = " LIMIT " in sql
            if sqlite:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                lines = [str(row[3]) for row in rows]
                verdict = _sqlite_verdict(sql, lines, filtered, limited)
            else:
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + statement, parameters)
                lines = [str(row[0]) for row in rows]
                verdict = _postgres_verdict("\n".join(lines), filtered, limited)
            sql = re.sub(r"SELECT .*? FROM", "SELECT ... FROM", sql, count=1)
            found.append({"sql": _short(sql), "plan": [_short(line) for line in lines], **verdict})
    return {"ok": all(s["ok"] for s in found), "statements": found}


def _short(text: str, limit: int = 240) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


# -- a server on the store --------------------------------------------------------------


# -- one backend ------------------------------------------------------------------------


def measure(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="legato-bench-reads-") as root,
        postgres_database("legato_bench_reads") as database,
    ):
        if backend == "sqlite":
            url = f"sqlite:///{Path(root) / 'store.db'}"
        elif database is None:
            return {"skipped": "no PostgreSQL server answered on 127.0.0.1:5432"}
        else:
            url = postgres_url(database)
        return _measure(backend, url, Path(root), args)


def _measure(backend: str, url: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    Store(url).close()  # the schema and indexes, exactly as the store makes them
    plan = make_plan(args.flow_runs)
    say(f"{backend}: filling {args.flow_runs:,} flow runs ...")
    start = time.perf_counter()
    if backend == "sqlite":
        path = Path(sa.make_url(url).database or "")
        fill_sqlite(path, plan)
        filled = time.perf_counter()
        analyze_sqlite(path)
    else:
        conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(False)
        fill_postgres(conninfo, plan)
        filled = time.perf_counter()
        analyze_postgres(conninfo)
    analyzed = time.perf_counter()
    say(
        f"{backend}: filled {plan.counts['task_runs']:,} task runs in {filled - start:.1f} s, "
        f"analyzed in {analyzed - filled:.1f} s"
    )
    result: dict[str, Any] = {
        "rows": dict(plan.counts),
        "populate_s": round(filled - start, 1),
        "analyze_s": round(analyzed - filled, 1),
        "reads": {},
    }
    store = Store(url)
    try:
        middle = store.read_flow_run_page(limit=50, offset=plan.n_flow_runs // 2 - 50)
        all_reads = reads(plan, middle.next_cursor or "")
        for read in all_reads:
            _check(read, read.through_store(store), "the store")
            result["reads"][read.name] = {
                "path": read.path,
                "target_ms": TARGET_MS if read.target else None,
                "store": _time(partial(read.through_store, store), args.requests, args.warmup),
                "plan": explain(store, read),
            }
    finally:
        store.close()
    env = clean_env(
        LEGATO_HOME=str(root / "server"), LEGATO_DATABASE_URL=url, LEGATO_LOG_LEVEL="WARNING"
    )
    serving = legato_server(env, root / "server.log", "--no-scheduler", "--no-worker")
    with serving as base, httpx.Client(base_url=base, timeout=60) as client:

        def get(path: str) -> Any:
            response = client.get(path)
            response.raise_for_status()
            return response

        for read in all_reads:
            _check(read, get(read.path).json(), "the server")
            entry = result["reads"][read.name]
            entry["server"] = _time(partial(get, read.path), args.requests, args.warmup)
            if read.target:
                entry["meets_target"] = entry["server"]["median_ms"] <= TARGET_MS
    targeted = [r for r in result["reads"].values() if r["target_ms"] is not None]
    result["meets_all_targets"] = all(r["meets_target"] for r in targeted)
    result["plans_ok"] = all(r["plan"]["ok"] for r in targeted)
    result["plans_not_ok"] = [name for name, r in result["reads"].items() if not r["plan"]["ok"]]
    return result


def summary(report: dict[str, Any]) -> str:
    lines = []
    for backend in ("sqlite", "postgresql"):
        result = report[backend]
        if "skipped" in result or "error" in result:
            lines.append(f"{backend}: {result.get('skipped') or 'FAILED: ' + result['error']}")
            continue
        lines.append(
            f"{backend}: populate {result['populate_s']} s + analyze {result['analyze_s']} s; "
            "median/p95 ms, server | store"
        )
        for name, read in result["reads"].items():
            verdict = {True: "PASS", False: "FAIL"}.get(read.get("meets_target"), "info")
            plan = "plan ok" if read["plan"]["ok"] else "PLAN NOT OK: scans or sorts"
            lines.append(
                f"  {name:28} {read['server']['median_ms']:8.1f} {read['server']['p95_ms']:8.1f}"
                f" | {read['store']['median_ms']:8.1f} {read['store']['p95_ms']:8.1f}"
                f"  {verdict:4}  {plan}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow-runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", default="sqlite,postgresql")
    parser.add_argument("--out")
    args = parser.parse_args()
    check_schema()
    if args.flow_runs < 1_000:
        parser.error("--flow-runs must be at least 1000 (the reads expect 50 failed runs)")
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "flow_runs": args.flow_runs,
        "requests": args.requests,
        "warmup": args.warmup,
        "statistic": "median and p95 (nearest rank) of the timed requests, in ms; "
        "meets_target compares the server median with target_ms",
        "target_ms": TARGET_MS,
    }
    failed = False
    for backend in ("sqlite", "postgresql"):
        if backend not in args.only.split(","):
            report[backend] = {"skipped": "not asked for (--only)"}
            continue
        try:
            report[backend] = measure(backend, args)
        except Exception as exc:  # keep the other backend's numbers; exit non-zero below
            failed = True
            report[backend] = {"error": f"{type(exc).__name__}: {exc}"}
    text = json.dumps(report, indent=2)
    print(text)
    say(summary(report))
    if args.out:
        Path(args.out).write_text(text + "\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
