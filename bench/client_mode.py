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
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

N_TASKS = 10_000
STATES_PER_TASK = 3  # Pending, Running, Completed
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "legato", "server", "start", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=1):
                return server, url
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the legato server did not start within 30 s")


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


def _postgres_database() -> str | None:
    """A fresh database on the local PostgreSQL, or None when there is none."""
    try:
        import psycopg
    except ImportError:
        return None
    name = f"legato_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.Error:
        return None
    return name


def _drop_postgres_database(name: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def measure(backend: str, repeat: int) -> dict[str, Any]:
    database = None
    with tempfile.TemporaryDirectory(prefix="legato-bench-") as root:
        base = dict(os.environ, LEGATO_LOG_LEVEL="WARNING")
        for name in ("LEGATO_API_URL", "LEGATO_DATABASE_URL"):
            base.pop(name, None)
        server_env = dict(base, LEGATO_HOME=str(Path(root) / "server"))
        if backend == "postgresql":
            database = _postgres_database()
            if database is None:
                return {"skipped": "no PostgreSQL server on 127.0.0.1:5432"}
            server_env["LEGATO_DATABASE_URL"] = (
                f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
            )
        server, url = _start_server(server_env)
        try:
            client_env = dict(base, LEGATO_HOME=str(Path(root) / "client"), LEGATO_API_URL=url)
            bare = statistics.median(_child("bare", client_env) for _ in range(repeat))
            runs = [_child("legato", client_env) for _ in range(repeat)]
        finally:
            server.terminate()
            server.wait(30)
            if database is not None:
                _drop_postgres_database(database)
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
