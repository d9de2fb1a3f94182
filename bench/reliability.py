"""Reliability under attack: runs executed twice, rows acknowledged but lost, health latency.

    python bench/reliability.py [--kills 50] [--clients 20] [--hostile 40] [--out FILE]

Three measurements, each against a real ``legato server start`` (PostgreSQL where the
machine has it, else SQLite), printed as one JSON document on stdout:

- ``double_execution``: two ``legato worker start`` processes on one pool of a
  PostgreSQL server; runs of a deployment with retries (50) keep arriving while a worker
  that holds a running run is killed with SIGKILL, ``--kills`` times, and started
  again. Each body execution appends ``start``, a ``tick`` every 0.1 s and ``end``
  lines to a file of its run. A run counts as executed twice if two executions of
  its body were alive at the same time (one started before the other's last tick)
  or if its body ended more than once. Must be 0.
- ``bulk_acknowledged_not_stored``: ``--clients`` threads post batches of task runs,
  states and log lines to ``POST /api/bulk`` at once; one of them sends, in every
  batch, a task run whose id another batch already stored. Every row of a batch
  answered 200 must be in the store afterwards. Must be 0.
- ``health_under_hostile_requests``: ``--hostile`` requests that attack the server at
  once (parameter schemas with remote references and backtracking patterns, invalid
  schemas, deeply nested and oversized bodies, text that is not UTF-8), while
  ``GET /api/health`` is timed every 20 ms; the largest and the 99th-percentile
  latency. Target: 100 ms.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import httpx
from support import (
    clean_env,
    legato,
    legato_server,
    postgres_database,
    postgres_url,
    say,
)

HEALTH_TARGET = 0.1
FLOW_FILE = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    from legato import flow
    from legato import get_run_context


    @flow
    def marked(seconds: float = 2.0) -> None:
        run_id = get_run_context().flow_run_id
        marks = Path(os.environ["BENCH_MARKS"]) / f"{run_id}.log"
        me = f"{os.getpid()}-{time.time_ns()}"
        with marks.open("a") as out:
            out.write(f"start {me} {time.time()}\\n")
            out.flush()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(0.1)
                out.write(f"tick {me} {time.time()}\\n")
                out.flush()
            out.write(f"end {me} {time.time()}\\n")
    """
)


# -- double execution ------------------------------------------------------------------


def _start_worker(env: dict[str, str], cwd: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "legato", "worker", "start", "--pool", "rel"),
                *("--name", name, "--limit", "2", "--grace", "1"),
            ],
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a kill -9 of the worker does not reach its children
        )


def _executions(marks: Path) -> dict[str, dict[str, dict[str, float]]]:
    """Per run, per body execution: its start, last sign of life, and end (if any)."""
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for path in marks.glob("*.log"):
        execs: dict[str, dict[str, float]] = {}
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 3:
                continue
            kind, me, when = parts[0], parts[1], float(parts[2])
            one = execs.setdefault(me, {"start": when, "last": when})
            one["last"] = max(one["last"], when)
            if kind == "end":
                one["end"] = when
        runs[path.stem] = execs
    return runs


def _executed_twice(execs: dict[str, dict[str, float]]) -> bool:
    ordered = sorted(execs.values(), key=lambda e: e["start"])
    if sum(1 for e in ordered if "end" in e) > 1:
        return True
    return any(later["start"] < earlier["last"] for earlier, later in itertools.pairwise(ordered))


def double_execution(kills: int, work: Path) -> dict[str, Any]:
    with postgres_database("legato_bench_rel") as database:
        if database is None:
            return {"skipped": "no PostgreSQL server reachable"}
        home = work / "home-kill"
        marks = work / "marks"
        marks.mkdir()
        (work / "flows.py").write_text(FLOW_FILE)
        env = clean_env(
            LEGATO_HOME=str(home),
            LEGATO_DATABASE_URL=postgres_url(database),
            LEGATO_HEARTBEAT_TIMEOUT="2",
            LEGATO_REAPER_INTERVAL="0.5",
            LEGATO_WORKER_HEARTBEAT_INTERVAL="0.5",
            LEGATO_WORKER_POLL_INTERVAL="0.5",
            BENCH_MARKS=str(marks),
        )
        with legato_server(env, work / "server-kill.log", "--no-worker", "--no-scheduler") as base:
            client_env = {**env, "LEGATO_API_URL": base}
            client_env.pop("LEGATO_DATABASE_URL")
            legato(
                client_env,
                work,
                *("deploy", "flows.py:marked", "--name", "rel", "--pool", "rel"),
                *("--retries", "50", "--param", "seconds=5"),
            )
            http = httpx.Client(base_url=base, timeout=30)
            deployment = http.get("/api/deployments/lookup", params={"ref": "marked/rel"}).json()
            starts = 0

            def start(slot: str) -> subprocess.Popen[bytes]:
                nonlocal starts
                starts += 1  # a new name each time, as a restarted worker on a new pid has
                return _start_worker(client_env, work, f"{slot}-{starts}", work / f"{slot}.log")

            workers = {slot: start(slot) for slot in ("w1", "w2")}
            names = {slot: f"{slot}-{i + 1}" for i, slot in enumerate(workers)}
            run_ids: list[str] = []
            killed = 0
            started = time.monotonic()
            try:
                while killed < kills:
                    while sum(1 for _ in _active(http, run_ids)) < 4:
                        run = http.post(f"/api/deployments/{deployment['id']}/runs", json={})
                        run.raise_for_status()
                        run_ids.append(run.json()["id"])
                    held_by = _worker_with_running_run(http, run_ids, set(names.values()))
                    victim = next((s for s, n in names.items() if n == held_by), None)
                    if victim is None:
                        time.sleep(0.1)
                        continue
                    time.sleep(0.3)  # mid-body
                    workers[victim].send_signal(signal.SIGKILL)
                    workers[victim].wait()
                    killed += 1
                    if killed % 10 == 0:
                        say(f"  {killed}/{kills} workers killed")
                    workers[victim] = start(victim)
                    names[victim] = f"{victim}-{starts}"
                deadline = time.monotonic() + 300
                while any(True for _ in _active(http, run_ids)) and time.monotonic() < deadline:
                    time.sleep(0.5)
            finally:
                for process in workers.values():
                    process.terminate()
                for process in workers.values():
                    try:
                        process.wait(30)
                    except subprocess.TimeoutExpired:
                        process.kill()
            elapsed = time.monotonic() - started
            finals: dict[str, int] = {}
            for run_id in run_ids:
                state = http.get(f"/api/flow_runs/{run_id}").json()["state"]["name"]
                finals[state] = finals.get(state, 0) + 1
        executions = _executions(marks)
        twice = sorted(run for run, execs in executions.items() if _executed_twice(execs))
        return {
            "backend": "postgresql",
            "workers": 2,
            "kills": killed,
            "runs": len(run_ids),
            "body_executions": sum(len(e) for e in executions.values()),
            "runs_executed_twice": len(twice),
            "runs_executed_twice_ids": twice[:10],
            "final_states": finals,
            "seconds": round(elapsed, 1),
        }


def _active(http: httpx.Client, run_ids: list[str]) -> Iterator[str]:
    for run_id in run_ids[-40:]:
        state = http.get(f"/api/flow_runs/{run_id}").json()["state"]["type"]
        if state not in ("COMPLETED", "FAILED", "CANCELLED", "CRASHED"):
            yield run_id


def _worker_with_running_run(http: httpx.Client, run_ids: list[str], names: set[str]) -> str | None:
    for run_id in run_ids[-40:]:
        run = http.get(f"/api/flow_runs/{run_id}").json()
        if run["state"]["type"] == "RUNNING" and run.get("worker_name") in names:
            return str(run["worker_name"])
    return None


# -- bulk acknowledged but not stored -----------------------------------------------------


def _batch(flow_run_id: str, task_run_ids: list[str], now: float) -> dict[str, Any]:
    rows = [
        {
            "id": task_run_id,
            "flow_run_id": flow_run_id,
            "name": "t",
            "task_key": "bench.t",
            "dynamic_key": 0,
            "tags": [],
            "state_type": "COMPLETED",
            "state_name": "Completed",
            "state_timestamp": now,
            "run_count": 1,
            "created": now,
        }
        for task_run_id in task_run_ids
    ]
    return {
        "batch_id": str(uuid.uuid4()),
        "task_runs": rows,
        "states": [
            {"task_run_id": r["id"], "type": "COMPLETED", "name": "Completed", "timestamp": now}
            for r in rows
        ],
        "logs": [
            {
                "flow_run_id": flow_run_id,
                "task_run_id": r["id"],
                "timestamp": now,
                "level": "INFO",
                "logger": "bench",
                "message": "hello",
            }
            for r in rows
        ],
    }


def bulk_acknowledged(clients: int, batches: int, work: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with postgres_database("legato_bench_bulk") as database:
        backends: list[tuple[str, dict[str, str]]] = [
            ("sqlite", {"LEGATO_HOME": str(work / "home-bulk-sqlite")})
        ]
        if database is not None:
            backends.append(
                (
                    "postgresql",
                    {
                        "LEGATO_HOME": str(work / "home-bulk-pg"),
                        "LEGATO_DATABASE_URL": postgres_url(database),
                    },
                )
            )
        for backend, overrides in backends:
            env = clean_env(**overrides)
            log = work / f"server-bulk-{backend}.log"
            with legato_server(env, log, "--no-worker", "--no-scheduler") as base:
                out[backend] = _bulk_round(base, clients, batches)
    return out


def _bulk_round(base: str, clients: int, batches: int) -> dict[str, Any]:
    now = time.time()
    flow_run_id = str(uuid.uuid4())
    http = httpx.Client(base_url=base, timeout=120)
    http.post(
        "/api/orchestrator/flow_runs",
        json={
            "row": {
                "id": flow_run_id,
                "flow_name": "bench-bulk",
                "name": "bulk",
                "parameters": {},
                "tags": [],
                "created": now,
            },
            "state": {"type": "RUNNING", "name": "Running", "timestamp": now},
        },
    ).raise_for_status()
    taken = [str(uuid.uuid4())]  # the id the bad client keeps sending again
    http.post("/api/bulk", json=_batch(flow_run_id, taken, now)).raise_for_status()
    acknowledged: list[str] = []
    refused = 0
    lock = threading.Lock()
    gate = threading.Barrier(clients)

    def client(index: int) -> None:
        nonlocal refused
        with httpx.Client(base_url=base, timeout=120) as mine:
            for _ in range(batches):
                ids = [str(uuid.uuid4()) for _ in range(50)]
                if index == 0:
                    ids[25] = taken[0]
                gate.wait()
                answer = mine.post("/api/bulk", json=_batch(flow_run_id, ids, now))
                with lock:
                    if answer.status_code == 200:
                        acknowledged.extend(ids)
                    else:
                        refused += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = {
        row["id"]
        for row in _paged(http, f"/api/flow_runs/{flow_run_id}/task_runs")
        if isinstance(row, dict)
    }
    lost = [task_run_id for task_run_id in set(acknowledged) if task_run_id not in stored]
    return {
        "clients": clients,
        "batches_per_client": batches,
        "rows_acknowledged": len(set(acknowledged)),
        "batches_refused": refused,
        "rows_acknowledged_not_stored": len(lost),
    }


def _paged(http: httpx.Client, path: str) -> Iterator[Any]:
    """Every item of a listing, following X-Next-Cursor where the endpoint pages."""
    params: dict[str, Any] = {"limit": 1000}
    while True:
        answer = http.get(path, params=params)
        answer.raise_for_status()
        items = answer.json()
        yield from items
        cursor = answer.headers.get("x-next-cursor")
        if not cursor or not items:
            return
        params = {"limit": 1000, "cursor": cursor}


# -- health under hostile requests ------------------------------------------------------


def _hostile_requests(base: str) -> list[tuple[str, str, bytes, dict[str, str]]]:
    json_type = {"content-type": "application/json"}

    def spec(name: str, schema: Any, parameters: Any = None) -> bytes:
        return json.dumps(
            {
                "flow_name": "hostile",
                "name": name,
                "entrypoint": "flows.py:hostile",
                "parameters": parameters or {},
                "parameter_schema": schema,
            }
        ).encode()

    backtracking = {
        "type": "object",
        "properties": {"x": {"type": "string", "pattern": "^(a+)+$"}},
    }
    attacks: list[tuple[str, str, bytes, dict[str, str]]] = []
    for i in range(4):
        attacks.append(
            (
                "PUT",
                "/api/deployments",
                spec(f"ref{i}", {"$ref": "http://10.255.255.1/schema.json"}),
                json_type,
            )
        )
        attacks.append(
            (
                "PUT",
                "/api/deployments",
                spec(f"redos{i}", backtracking, {"x": "a" * 27 + "!"}),
                json_type,
            )
        )
        for bad in ({"type": 5}, {"$ref": "#/nope"}, {"pattern": "("}):
            attacks.append(("PUT", "/api/deployments", spec(f"bad{i}", bad), json_type))
        near_limit = [
            {
                "flow_run_id": str(uuid.uuid4()),
                "timestamp": 1.0,
                "level": "INFO",
                "logger": "hostile",
                "message": "x" * 60,
            }
            for _ in range(50_000)
        ]
        near_limit[-1]["level"] = "x" * 100  # refused, after every row before it was read
        attacks.append(("POST", "/api/bulk", json.dumps({"logs": near_limit}).encode(), json_type))
        big_parameters = {"x": [{"a": [n, "s"]} for n in range(24_000)]}  # ~490 KB
        attacks.append(
            ("PUT", "/api/deployments", spec(f"big{i}", None, big_parameters), json_type)
        )
        nested = b"[" * 100_000 + b"]" * 100_000
        attacks.append(("POST", "/api/bulk", nested, json_type))
        attacks.append(("POST", "/api/bulk", b"x" * 50_000_000, json_type))
        attacks.append(
            (
                "POST",
                "/api/orchestrator/flow_runs",
                json.dumps(
                    {
                        "row": {
                            "id": str(uuid.uuid4()),
                            "flow_name": "hostile",
                            "name": "surrogate",
                            "parameters": {"path": "caf\udce9.csv"},
                            "tags": [],
                            "created": time.time(),
                        },
                        "state": {"type": "RUNNING", "name": "Running", "timestamp": time.time()},
                    }
                ).encode(),
                json_type,
            )
        )
    return attacks


PROBE = textwrap.dedent(
    """
    import json, sys, threading, time
    import httpx

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    latencies = []
    with httpx.Client(base_url=sys.argv[1], timeout=60) as http:
        http.get("/api/health")
        print("ready", flush=True)
        while not stop.is_set():
            start = time.perf_counter()
            http.get("/api/health")
            latencies.append(time.perf_counter() - start)
            time.sleep(0.01)
    print(json.dumps(latencies))
    """
)


def health_under_attack(hostile: int, work: Path) -> dict[str, Any]:
    env = clean_env(LEGATO_HOME=str(work / "home-hostile"))
    with legato_server(env, work / "server-hostile.log", "--no-worker", "--no-scheduler") as base:
        attacks = _hostile_requests(base)
        attacks = (attacks * (hostile // len(attacks) + 1))[:hostile]
        statuses: dict[str, int] = {}
        lock = threading.Lock()

        def attack(method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
            try:
                with httpx.Client(base_url=base, timeout=60) as mine:
                    code = str(
                        mine.request(method, path, content=body, headers=headers).status_code
                    )
            except httpx.HTTPError as exc:
                code = type(exc).__name__
            with lock:
                statuses[code] = statuses.get(code, 0) + 1

        with httpx.Client(base_url=base, timeout=60) as warm:  # a server's first request
            warm.get("/api/health")  # costs more than any later one
            warm.get("/api/deployments")
        # The probe runs in a process of its own, so that the attackers' threads here
        # (building and sending 50 MB bodies) do not delay it: it times the server only.
        prober = subprocess.Popen(
            [sys.executable, "-c", PROBE, base], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert prober.stdout is not None and prober.stdin is not None
        prober.stdout.readline()  # "ready": its first probe is done
        threads = [threading.Thread(target=attack, args=a) for a in attacks]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        attack_seconds = time.monotonic() - started
        out, _ = prober.communicate(b"stop\n", timeout=60)
        latencies = json.loads(out)
    latencies.sort()
    return {
        "hostile_requests": len(attacks),
        "answers": statuses,
        "attack_seconds": round(attack_seconds, 2),
        "health_probes": len(latencies),
        "health_max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
        "health_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1)
        if latencies
        else None,
        "health_median_ms": round(statistics.median(latencies) * 1000, 1) if latencies else None,
        "target_ms": HEALTH_TARGET * 1000,
    }


# -- main --------------------------------------------------------------------------------


@contextmanager
def scratch(keep: str | None) -> Iterator[Path]:
    if keep:
        path = Path(keep)
        path.mkdir(parents=True, exist_ok=True)
        with nullcontext(path):
            yield path
        return
    with tempfile.TemporaryDirectory(prefix="legato-bench-rel-") as tmp:
        yield Path(tmp)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--hostile", type=int, default=40)
    parser.add_argument("--only", choices=["kills", "bulk", "health"], default=None)
    parser.add_argument("--work", default=None, help="keep scratch files in this folder")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    result: dict[str, Any] = {
        "benchmark": "reliability",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with scratch(args.work) as work:
        if args.only in (None, "bulk"):
            say(f"bulk: {args.clients} concurrent clients, one sending a duplicate task run")
            result["bulk_acknowledged_not_stored"] = bulk_acknowledged(
                args.clients, args.batches, work
            )
        if args.only in (None, "health"):
            say(f"health: {args.hostile} hostile requests in flight")
            result["health_under_hostile_requests"] = health_under_attack(args.hostile, work)
        if args.only in (None, "kills"):
            say(f"kills: {args.kills} SIGKILLs of workers mid-run, two workers, PostgreSQL")
            result["double_execution"] = double_execution(args.kills, work)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
