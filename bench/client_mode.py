"""What recording through a server costs: client mode against bare Python, in one run.

    python bench/client_mode.py [--repeat 3] [--out results.json]

Starts ``legato server start`` on 127.0.0.1 (a fresh LEGATO_HOME; SQLite, and
PostgreSQL when a server answers on 127.0.0.1:5432), then runs, each in a fresh
process, 10,000 sequential task calls in one flow with ``LEGATO_API_URL`` set.
The flow call returns only once the server has acknowledged every record, so the
time covers the records being durable in the server's store. Prints JSON:
per-task overhead against bare Python (target <= 300 us) and the task-state
writes per second the server ingested (target >= 5,000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from support import clean_env, legato_server, postgres_database, postgres_url

N_TASKS = 10_000
STATES_PER_TASK = 3  # Pending, Running, Completed

CHILD = """
import json, sys, time
N = int(sys.argv[1])

def work(x):
    return x + 1

if sys.argv[2] == "bare":
    start = time.perf_counter()
    for i in range(N):
        work(i)
    print(json.dumps({"seconds": time.perf_counter() - start}))
else:
    from legato import flow, task
    from legato.orchestrator import get_orchestrator

    get_orchestrator()
    inc = task(work)

    @flow
    def sequential():
        for i in range(N):
            inc(i)

    start = time.perf_counter()
    sequential()
    print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def _child(mode: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(N_TASKS), mode],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} run failed:\n{out.stderr}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def measure(backend: str, repeat: int) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="legato-bench-") as root,
        postgres_database("legato_bench") as database,
    ):
        base = clean_env(LEGATO_LOG_LEVEL="WARNING")
        server_env = dict(base, LEGATO_HOME=str(Path(root) / "server"))
        if backend == "postgresql":
            if database is None:
                return {"skipped": "no PostgreSQL server on 127.0.0.1:5432"}
            server_env["LEGATO_DATABASE_URL"] = postgres_url(database)
        # The server alone: no scheduler or built-in worker waking up beside it.
        with legato_server(
            server_env, Path(root) / "server.log", "--no-scheduler", "--no-worker"
        ) as url:
            client_env = dict(base, LEGATO_HOME=str(Path(root) / "client"), LEGATO_API_URL=url)
            bare = statistics.median(_child("bare", client_env) for _ in range(repeat))
            runs = [_child("legato", client_env) for _ in range(repeat)]
    legato_s = statistics.median(runs)
    overhead_us = (legato_s - bare) / N_TASKS * 1e6
    states_per_s = N_TASKS * STATES_PER_TASK / legato_s
    return {
        "tasks": N_TASKS,
        "bare_python_s": round(bare, 4),
        "legato_client_mode_s": round(legato_s, 4),
        "legato_runs_s": [round(r, 4) for r in runs],
        "overhead_per_task_us": round(overhead_us, 1),
        "target_us": 300.0,
        "meets_target": overhead_us <= 300.0,
        "task_state_writes_per_s": round(states_per_s),
        "target_writes_per_s": 5000,
        "meets_ingest_target": states_per_s >= 5000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "repeat": args.repeat,
        "statistic": "median of repeats",
        "client_mode_sqlite": measure("sqlite", args.repeat),
        "client_mode_postgresql": measure("postgresql", args.repeat),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
