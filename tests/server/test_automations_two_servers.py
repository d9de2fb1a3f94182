"""Two servers on one PostgreSQL database, no Redis: events posted to either are
evaluated by whichever holds the automations' lease, and each firing's action runs once
(one run per event); when that server stops, the other takes over and nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from fixtures.commands import legato_env, run_legato
from fixtures.postgres import PostgresServer
from fixtures.servers import running_server, start_server
from fixtures.waiting import wait_until

FLOWS = """
from legato import flow


@flow
def counted(n: int):
    return n
"""

AUTOMATION = """
name: one-run-each
trigger: {expect: [acme.two.*]}
actions:
  - type: run-deployment
    deployment: counted/twice
    parameters: {n: "{{ event.payload.n }}"}
"""


def _post(url: str, numbers: range) -> None:
    events = [
        {
            "event": "acme.two.tick",
            "resource": {"legato.resource.id": f"acme.{n}"},
            "payload": {"n": n},
        }
        for n in numbers
    ]
    assert httpx.post(f"{url}/api/events", json=events, timeout=30).status_code == 200


def _runs(env: dict[str, str]) -> list[int]:
    listed = run_legato("runs", "ls", "--limit", "500", "--json", env=env, check=True)
    return sorted(run["parameters"]["n"] for run in json.loads(listed.stdout))


def test_two_servers_act_once_per_event_and_take_over(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "automation.yaml").write_text(AUTOMATION)
    with postgres_server.database() as url:
        first = start_server(tmp_path / "a", tmp_path / "a.log", database_url=url)
        try:
            env = legato_env(tmp_path / "client", first.url)
            run_legato(
                "deploy", "flows.py:counted", "--name", "twice", "--pool", "nobody",
                env=env, cwd=tmp_path, check=True,
            )  # fmt: skip
            run_legato(
                "automation", "create", "-f", "automation.yaml", env=env, cwd=tmp_path, check=True
            )
            _post(first.url, range(0, 5))  # the first server alone: it takes the lease
            wait_until(lambda: _runs(env) == list(range(5)), "5 runs", timeout=90, interval=0.5)
            with running_server(tmp_path / "b", tmp_path / "b.log", url) as second:
                for start in range(5, 25, 5):
                    _post(first.url if start % 10 == 0 else second.url, range(start, start + 5))
                wait_until(
                    lambda: _runs(env) == list(range(25)),
                    "one run per event",
                    timeout=90,
                    interval=0.5,
                )
                first.process.kill()  # SIGKILL: its lease runs out, the other takes over
                first.process.wait(timeout=30)
                _post(second.url, range(25, 35))
                env_b = legato_env(tmp_path / "client", second.url)
                wait_until(
                    lambda: _runs(env_b) == list(range(35)),
                    "10 more after a takeover",
                    timeout=90,
                    interval=0.5,
                )
        finally:
            if first.process.poll() is None:
                first.process.kill()
                first.process.wait(timeout=30)
