"""Flows recorded for the server tests, and a real ``legato server start`` process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from legato import flow, get_run_logger, task

TINY_RUNS = 120


@task
def extract() -> list[int]:
    return [1, 2, 3]


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(values: list[int]) -> int:
    get_run_logger().info("total of %d values", len(values))
    return sum(values)


@flow
def pipeline(label: str = "x") -> int:
    get_run_logger().info("pipeline %s starting", label)
    rows = extract.submit()
    doubled = double.map([1, 2, 3], wait_for=[rows])
    return int(total.submit(doubled).result())


@flow
def broken() -> None:
    raise ValueError("broken on purpose")


@flow
def child(n: int) -> int:
    return n + 1


@flow
def parent() -> int:
    return child(1) + child(2)


@flow
def tiny(i: int) -> int:
    return i


@dataclass
class Recorded:
    """Ids of the runs recorded before the server started."""

    pipeline_id: str = ""
    broken_id: str = ""
    parent_id: str = ""
    tiny_ids: list[str] = field(default_factory=list)


def record_runs() -> Recorded:
    """Run every flow above in this process, into the store of the current LEGATO_HOME."""
    from legato import get_client

    recorded = Recorded()
    for i in range(TINY_RUNS):
        tiny(i)
    pipeline("x")
    with contextlib.suppress(ValueError):
        broken()
    parent()
    client = get_client()
    recorded.tiny_ids = [r.id for r in client.read_flow_runs(flow_name="tiny", limit=1000)]
    recorded.pipeline_id = client.read_flow_runs(flow_name="pipeline", limit=1)[0].id
    recorded.broken_id = client.read_flow_runs(flow_name="broken", limit=1)[0].id
    recorded.parent_id = client.read_flow_runs(flow_name="parent", limit=1)[0].id
    return recorded


@dataclass
class Served:
    """The session's server and the store it serves."""

    home: Path
    server: ServerProcess
    recorded: Recorded
    database_url: str | None = None
    """Set when the store is a PostgreSQL database (else: the SQLite file under home)."""

    @property
    def env(self) -> dict[str, str]:
        """What a process needs in its environment to use the same store."""
        env = {"LEGATO_HOME": str(self.home)}
        if self.database_url:
            env["LEGATO_DATABASE_URL"] = self.database_url
        return env

    @property
    def url(self) -> str:
        return self.server.url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    url: str
    output: Path

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait; the exit code (the process is killed if it hangs)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def start_server(
    home: Path,
    output: Path,
    port: int | None = None,
    database_url: str | None = None,
    *,
    worker: bool = False,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """``python -m legato server start`` on 127.0.0.1; returns once /api/health answers.

    The store is the SQLite file under ``home``, or ``database_url`` when given. The
    server's own worker for the ``default`` pool runs only with ``worker``; ``env`` adds
    to the environment (LEGATO_* settings)."""
    port = port or free_port()
    env = {**os.environ, "LEGATO_HOME": str(home), **(env or {})}
    if database_url:
        env["LEGATO_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "legato", "server", "start", "--port", str(port)]
    if not worker:
        command.append("--no-worker")
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = ServerProcess(process, f"http://127.0.0.1:{port}", output)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait(timeout=30)
    raise RuntimeError(f"server did not answer /api/health within 60 s:\n{server.log()}")


@contextlib.contextmanager
def backend_home(request: Any, folder: Path) -> Iterator[tuple[Path, str | None]]:
    """A home folder and, for the ``postgres`` param, a new database (dropped after):
    ``(home, database_url or None)``. Use in fixtures with params sqlite/postgres."""
    home = folder / "home"
    if request.param != "postgres":
        yield home, None
        return
    postgres = request.getfixturevalue("postgres_server")
    database = postgres.create()
    try:
        yield home, postgres.url_of(database)
    finally:
        postgres.drop(database)
