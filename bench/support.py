"""What the benchmarks share: a scratch PostgreSQL database, a real legato server, stderr.

Each benchmark runs as ``python bench/NAME.py`` (this folder is then on sys.path) and
prints one JSON document on stdout; progress goes to stderr through :func:`say`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database(prefix: str) -> Iterator[str | None]:
    """A fresh database on the local PostgreSQL (dropped afterwards), or None if there
    is no server to make one on: the benchmark then reports PostgreSQL as skipped."""
    try:
        import psycopg
    except ImportError:
        yield None
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.Error:
        yield None
        return
    try:
        yield name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def postgres_url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


@contextmanager
def legato_server(
    env: Mapping[str, str], log: Path, *extra_args: str, timeout: float = 60
) -> Iterator[str]:
    """``legato server start`` on a free port with ``env``; yields its base URL once
    /api/health answers; SIGTERM (then SIGKILL) afterwards."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "legato", "server", "start", "--port", str(port), *extra_args],
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"legato server exited with {process.returncode}:\n{log.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{base}/api/health", timeout=2):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"legato server did not answer in {timeout} s:\n{log.read_text()}"
                )
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def legato(env: dict[str, str], cwd: Path, *args: str) -> str:
    """Run ``python -m legato ARGS`` to the end; its stdout (raises with its output if it fails)."""
    done = subprocess.run(
        [sys.executable, "-m", "legato", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"legato {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without a server or store already chosen, plus ``overrides``."""
    env = dict(os.environ)
    for name in ("LEGATO_API_URL", "LEGATO_DATABASE_URL", "LEGATO_API_KEY"):
        env.pop(name, None)
    env.update(overrides)
    return env
