"""``legato events`` on the embedded store: a flow run's states and the events its
code sent, listed by name, resource and time, newest last."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixtures.commands import legato_env, run_legato

FLOW = """
from legato import emit_event, flow, task


@task
def step(n):
    if n == 2:
        raise ValueError("two is right out")
    return n


@flow(name="counting")
def counting():
    emit_event("acme.count.started", {"legato.resource.id": "acme.count.1"})
    return [step(n) for n in range(3)]


counting()
"""


def test_events_of_an_embedded_flow_are_listed_by_name_and_resource(tmp_path: Path) -> None:
    env = legato_env(tmp_path / "home")
    script = tmp_path / "counting.py"
    script.write_text(FLOW)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr  # the flow fails: step 2 raises
    listed = run_legato("events", "ls", "--json", env=env, check=True)
    names = [event["event"] for event in json.loads(listed.stdout)]
    assert names[0] == "legato.flow-run.Pending"
    assert names[-1] == "legato.flow-run.Failed"
    assert "acme.count.started" in names
    assert names.count("legato.task-run.Completed") == 2
    assert names.count("legato.task-run.Failed") == 1
    failed = run_legato(
        "events", "ls", "--name", "legato.task-run.Failed", "--json", env=env, check=True
    )
    [event] = json.loads(failed.stdout)
    assert event["resource"]["legato.state-message"].startswith("ValueError")
    assert event["payload"]["intended"] == {"from": "RUNNING", "to": "FAILED"}
    run_id = event["related"][0]["legato.resource.id"]
    of_run = run_legato("events", "ls", "--related", run_id, "--limit", "2", env=env, check=True)
    lines = of_run.stdout.splitlines()
    assert len(lines) == 2  # the newest two, oldest of them first
    assert "legato.task-run.Completed" in lines[0] or "legato.task-run.Failed" in lines[1]
    none = run_legato("events", "ls", "--name", "nothing.*", env=env, check=True)
    assert none.stdout.strip() == "No events match."
    bad = run_legato("events", "ls", "--name", "*" * 40, env=env)
    assert bad.returncode == 1
    assert "wildcards" in bad.stderr
