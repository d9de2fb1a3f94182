"""Each firing's action runs once: a server killed with SIGKILL in the middle of a burst
of events that each start a deployment's run, then started again, ends with exactly one
run per event; and a burst of 10,000 events is stored and evaluated with none lost."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from fixtures.commands import legato_env, run_legato
from fixtures.servers import running_server, start_server
from fixtures.waiting import wait_until

FLOWS = """
from legato import flow


@flow
def counted(n: int):
    return n
"""

AUTOMATION = """
name: one-run-per-event
trigger: {expect: [acme.kill.*]}
actions:
  - type: run-deployment
    deployment: counted/once
    parameters: {n: "{{ event.payload.n }}"}
"""

FAST = {"LEGATO_AUTOMATION_ACTION_LEASE_SECONDS": "2"}


def _events(prefix: str, numbers: range) -> list[dict[str, object]]:
    return [
        {
            "event": f"{prefix}.{n}",
            "resource": {"legato.resource.id": f"acme.{n}"},
            "payload": {"n": n},
        }
        for n in numbers
    ]


def test_a_server_killed_mid_burst_runs_each_action_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "flows.py").write_text(FLOWS)
    (tmp_path / "automation.yaml").write_text(AUTOMATION)
    first = start_server(home, tmp_path / "first.log", env=FAST)
    try:
        env = legato_env(tmp_path / "client", first.url)
        run_legato(
            "deploy", "flows.py:counted", "--name", "once", "--pool", "nobody",
            env=env, cwd=tmp_path, check=True,
        )  # fmt: skip
        run_legato(
            "automation", "create", "-f", "automation.yaml", env=env, cwd=tmp_path, check=True
        )
        with httpx.Client(base_url=first.url, timeout=30) as api:
            for start in range(0, 40, 10):
                assert (
                    api.post(
                        "/api/events", json=_events("acme.kill", range(start, start + 10))
                    ).status_code
                    == 200
                )
    finally:
        first.process.kill()  # SIGKILL: mid-evaluation or mid-action, wherever it was
        first.process.wait(timeout=30)
    with running_server(home, tmp_path / "second.log", env=FAST) as second:
        env = legato_env(tmp_path / "client", second.url)

        def all_done() -> list[dict[str, object]]:
            shown = run_legato(
                "automation", "firings", "one-run-per-event", "--limit", "500", "--json", env=env
            )
            firings = json.loads(shown.stdout)
            done = [f for f in firings if f["actions"] and f["actions"][0]["status"] == "done"]
            return firings if len(done) == 40 else []

        firings = wait_until(all_done, "all 40 firings acted", timeout=90, interval=0.5)
        assert len(firings) == 40
        runs = json.loads(
            run_legato("runs", "ls", "--limit", "500", "--json", env=env, check=True).stdout
        )
        made = sorted(run["parameters"]["n"] for run in runs)
        assert made == list(range(40))  # one run per event: none twice, none lost


def test_a_burst_of_ten_thousand_events_is_evaluated_with_none_lost(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "automation.yaml").write_text(
        "name: count-them\n"
        "trigger: {expect: [acme.burst.tick], threshold: 10000, within: 3600}\n"
        "actions: [{type: pause-work-pool, work_pool: burst}]\n"
    )
    with running_server(home, tmp_path / "server.log") as server:
        env = legato_env(tmp_path / "client", server.url)
        run_legato("work-pool", "create", "burst", env=env, check=True)
        run_legato(
            "automation", "create", "-f", "automation.yaml", env=env, cwd=tmp_path, check=True
        )
        time.sleep(1.5)  # past the automation's creation by more than the clock skew
        with httpx.Client(base_url=server.url, timeout=60) as api:
            for start in range(0, 10_000, 1000):
                batch = [
                    {"event": "acme.burst.tick", "resource": {"legato.resource.id": f"acme.{n}"}}
                    for n in range(start, start + 1000)
                ]
                answer = api.post("/api/events", json=batch)
                assert answer.json() == {"stored": 1000, "duplicates": 0}
        firings = wait_until(
            lambda: json.loads(
                run_legato("automation", "firings", "count-them", "--json", env=env).stdout
            ),
            "the 10,000th event fired the trigger",
            timeout=120,
            interval=1.0,
        )
        assert len(firings) == 1
        assert firings[0]["kind"] == "triggered"
        pools = json.loads(run_legato("work-pool", "ls", "--json", env=env, check=True).stdout)
        wait_until(
            lambda: [
                p
                for p in json.loads(run_legato("work-pool", "ls", "--json", env=env).stdout)
                if p["name"] == "burst" and p["paused"]
            ],
            "the pool was paused",
        )
        assert pools
