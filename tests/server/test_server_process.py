"""The ``legato server start`` process itself: start-up failures and the printed URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from fixtures.served import Served
from fixtures.servers import start_server


def test_server_prints_the_url_it_serves(served: Served) -> None:
    assert f"legato server: serving {served.url}" in served.server.log()


def test_server_on_a_taken_port_exits_1(served: Served) -> None:
    port = served.url.rsplit(":", 1)[1]
    done = subprocess.run(
        [sys.executable, "-m", "legato", "server", "start", "--port", port],
        env={**os.environ, **served.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "address already in use" in done.stderr.lower()
    assert "error: the server could not start" in done.stderr


def test_server_stops_cleanly_on_sigint(served: Served, tmp_path: Path) -> None:
    server = start_server(served.home, tmp_path / "server.log", database_url=served.database_url)
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=15) == 0
    assert "legato server: stopped" in server.log()
