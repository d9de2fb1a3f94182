"""Client mode against a server with a small body limit (LEGATO_SERVER_MAX_BODY_BYTES).

A log line larger than the limit, a failure message larger than it, and more lines
than one request may carry: the run completes, every line is stored, and a text
too large alone is stored truncated, saying how much was cut.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.servers import ServerProcess, running_server

LIMIT = 64 * 1024

FLOW = """
from legato import flow, get_run_logger, task


@task
def shout() -> None:
    get_run_logger().info("big " + "x" * 300_000)


@task
def fail_loudly() -> None:
    raise ValueError("y" * 200_000)


@task
def chatter(i: int) -> int:
    for j in range(30):
        get_run_logger().info("line %d.%d %s", i, j, "z" * 150)
    return i


@flow
def limited() -> int:
    shout()
    assert fail_loudly(return_state=True).is_failed()
    return sum(f.result() for f in chatter.map(range(100)))


if __name__ == "__main__":
    state = limited(return_state=True)
    print("final", state.name, state.result())
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path / "server-home",
        tmp_path / "server.log",
        env={"LEGATO_SERVER_MAX_BODY_BYTES": str(LIMIT)},
    ) as started:
        yield started


def test_lines_and_batches_over_the_body_limit_never_fail_the_run(
    server: ServerProcess, tmp_path: Path
) -> None:
    flow_file = tmp_path / "limited.py"
    flow_file.write_text(FLOW)
    env = {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "client-home"),
        "LEGATO_API_URL": server.url,
    }
    done = subprocess.run(
        [sys.executable, str(flow_file)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert f"final Completed {sum(range(100))}" in done.stdout
    # no 413 was reported (a log line's time may end in .413: not a status)
    assert not re.search(r"(?<![.:\d])413(?!\d)", done.stderr), done.stderr[-3000:]

    with httpx.Client(base_url=server.url, timeout=60) as api:
        (run,) = api.get("/api/flow_runs", params={"flow_name": "limited"}).json()
        assert run["state"]["name"] == "Completed"
        task_runs = api.get(f"/api/flow_runs/{run['id']}/task_runs").json()
        assert len(task_runs) == 102

        failed = next(t for t in task_runs if t["name"].startswith("fail_loudly"))
        message = failed["state"]["message"]
        assert message.startswith("ValueError: yyyy")
        assert message.endswith(" characters]")
        assert len(message.encode()) < LIMIT

        lines: list[str] = []
        cursor = None
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            answer = api.get(f"/api/flow_runs/{run['id']}/logs", params=params)
            assert answer.status_code == 200, answer.text
            lines.extend(line["message"] for line in answer.json())
            cursor = answer.headers.get("x-next-cursor")
            if not cursor or not answer.json():
                break
    assert sum(1 for line in lines if line.startswith("line ")) == 100 * 30
    (big,) = [line for line in lines if line.startswith("big ")]
    kept = big.index("... [truncated: ")
    assert set(big[4:kept]) == {"x"}
    cut = 300_004 - kept
    assert big.endswith(f"... [truncated: {cut:,} characters]")
