"""``legato automation`` on the embedded store: create from YAML, show it back as YAML
that creates it again (keeping its trigger's id, so its counts), test an event against
it without doing anything, pause, resume, delete."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.commands import legato_env, run_legato

SPEC = """
name: refunds-reviewed
trigger:
  match: {legato.resource.id: "acme.refund.*"}
  expect: [acme.refund.reviewed]
  threshold: 2
  within: 60
actions:
  - type: run-deployment
    deployment: refunds/auto
    parameters: {amount: "{{ event.payload.amount }}", missing: "{{ event.payload.nope }}"}
"""


def test_create_show_test_pause_resume_delete(tmp_path: Path) -> None:
    env = legato_env(tmp_path / "home")
    spec = tmp_path / "a.yaml"
    spec.write_text(SPEC)
    made = run_legato("automation", "create", "-f", str(spec), "--json", env=env, check=True)
    [record] = json.loads(made.stdout)
    trigger_id = record["spec"]["trigger"]["id"]
    shown = run_legato("automation", "show", "refunds-reviewed", env=env, check=True)
    again = tmp_path / "b.yaml"
    again.write_text(shown.stdout)
    updated = run_legato(
        "automation", "create", "-f", str(again), "--update", "--json", env=env, check=True
    )
    assert json.loads(updated.stdout)[0]["spec"]["trigger"]["id"] == trigger_id
    assert json.loads(updated.stdout)[0]["id"] == record["id"]
    event = tmp_path / "e.json"
    event.write_text(
        json.dumps(
            {
                "event": "acme.refund.reviewed",
                "resource": {"legato.resource.id": "acme.refund.9"},
                "payload": {"amount": 5},
            }
        )
    )
    tested = run_legato("automation", "test", "refunds-reviewed", "--event", str(event), env=env)
    assert tested.returncode == 0, tested.stderr
    assert "match legato.resource.id: yes" in tested.stdout
    assert "counts 1 of 2" in tested.stdout
    assert "would FAIL" in tested.stdout and "nope" in tested.stdout
    paused = run_legato("automation", "pause", "refunds-reviewed", env=env, check=True)
    assert "paused" in paused.stdout
    listed = run_legato("automation", "ls", "--json", env=env, check=True)
    assert [a["spec"]["enabled"] for a in json.loads(listed.stdout)] == [False]
    run_legato("automation", "resume", "refunds-reviewed", env=env, check=True)
    events = run_legato("events", "ls", "--name", "legato.automation.*", "--json", env=env)
    assert [e["event"] for e in json.loads(events.stdout)] == [
        "legato.automation.created",
        "legato.automation.updated",
        "legato.automation.paused",
        "legato.automation.resumed",
    ]
    run_legato("automation", "delete", "refunds-reviewed", env=env, check=True)
    gone = run_legato("automation", "show", "refunds-reviewed", env=env)
    assert gone.returncode == 1
    assert "no automation named 'refunds-reviewed'" in gone.stderr
