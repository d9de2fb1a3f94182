"""The server's output: a worker's claims and heartbeats leave no access lines unless
``--log-level debug``; other requests still do."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.servers import running_server

FLOWS = textwrap.dedent(
    """
    import time

    from legato import flow


    @flow
    def nap():
        time.sleep(1.5)  # long enough for a few heartbeats
        return 1
    """
)


def _run_one_deployment(tmp_path: Path, url: str) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    env = legato_env(tmp_path / "client", url)
    deployed = run_legato("deploy", "flows.py:nap", "--name", "nap", env=env, cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stderr
    done = run_legato("deployment", "run", "nap", "--watch", env=env, cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Completed" in done.stdout


@pytest.mark.parametrize("level", ["info", "debug"])
def test_polls_leave_no_access_lines_unless_debug(tmp_path: Path, level: str) -> None:
    polls = {
        "LEGATO_WORKER_POLL_INTERVAL": "0.1",
        "LEGATO_WORKER_HEARTBEAT_INTERVAL": "0.3",
    }
    with running_server(
        tmp_path / "home",
        tmp_path / "server.log",
        worker=True,
        env=polls,
        options=("--log-level", level),
    ) as server:
        _run_one_deployment(tmp_path, server.url)
        log = server.log()

    claims = [line for line in log.splitlines() if "/claim HTTP" in line]
    heartbeats = [line for line in log.splitlines() if "/workers/heartbeat HTTP" in line]
    assert '"POST /api/deployments' in log or '"PUT /api/deployments' in log, log
    if level == "info":
        assert claims == [] and heartbeats == [], log
    else:
        assert claims and heartbeats, log
