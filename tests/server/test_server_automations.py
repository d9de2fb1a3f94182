"""Automations on a real server: a reactive trigger with a threshold starts a deployment's
run (a real worker runs it) with parameters rendered from the event in their JSON types;
a proactive trigger fires for the job whose expected event never came, and not for the
one whose came in time; bad automations are refused saying why; firings are recorded
with what each action did."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.processes import stop
from fixtures.runs import wait_final
from fixtures.servers import ServerProcess, running_server
from fixtures.waiting import wait_until
from fixtures.workers import FAST_WORKER, start_worker
from legato.orchestrator.client import ClientOrchestrator

FLOWS = """
import json, os
from legato import flow


@flow
def refunds(amount, ids, note):
    seen = {"amount": [type(amount).__name__, amount], "ids": [type(ids).__name__, ids],
            "note": [type(note).__name__, note]}
    with open(os.environ["SEEN_FILE"], "a") as out:
        out.write(json.dumps(seen) + "\\n")
    return seen
"""

REACTIVE = """
name: refunds-reviewed
description: every second reviewed refund reruns the refunds flow
trigger:
  type: event
  match: {legato.resource.id: "acme.refund.*"}
  expect: [acme.refund.reviewed]
  threshold: 2
  within: 60
actions:
  - type: run-deployment
    deployment: refunds/auto
    parameters:
      amount: "{{ event.payload.amount }}"
      ids: "{{ event.payload['ids'] }}"
      note: "refund {{ event.resource['legato.resource.id'] }}"
"""

PROACTIVE = """
name: jobs-finish
trigger:
  posture: Proactive
  after: [acme.job.started]
  expect: [acme.job.done]
  for_each: [legato.resource.id]
  within: 2
actions:
  - type: pause-work-pool
    work_pool: watched
"""


@dataclass
class Setup:
    folder: Path
    env: dict[str, str]
    server: ServerProcess
    api: httpx.Client
    orchestrator: ClientOrchestrator

    def emit(self, name: str, resource_id: str, **payload: object) -> None:
        body = [
            {"event": name, "resource": {"legato.resource.id": resource_id}, "payload": payload}
        ]
        answer = self.api.post("/api/events", json=body)
        assert answer.status_code == 200, answer.text

    def automation(self, text: str, name: str) -> None:
        path = self.folder / f"{name}.yaml"
        path.write_text(text)
        run_legato("automation", "create", "-f", str(path), env=self.env, check=True)

    def firings(self, name: str) -> list[dict[str, object]]:
        done = run_legato("automation", "firings", name, "--json", env=self.env, check=True)
        return list(json.loads(done.stdout))


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    folder = tmp_path_factory.mktemp("automations")
    (folder / "flows.py").write_text(FLOWS)
    with running_server(folder / "server-home", folder / "server.log") as server:
        env = legato_env(folder / "client", server.url, **FAST_WORKER)
        env["SEEN_FILE"] = str(folder / "seen.jsonl")
        run_legato(
            "deploy", "flows.py:refunds", "--name", "auto", "--pool", "p",
            env=env, cwd=folder, check=True,
        )  # fmt: skip
        worker = start_worker(folder, env, "--name", "w1", output=folder / "worker.log")
        orchestrator = ClientOrchestrator(server.url)
        try:
            with httpx.Client(base_url=server.url, timeout=30) as api:
                yield Setup(folder, env, server, api, orchestrator)
        finally:
            stop(worker)
            orchestrator.close()


def test_a_reactive_threshold_runs_a_deployment_with_typed_parameters(setup: Setup) -> None:
    setup.automation(REACTIVE, "reactive")
    setup.emit("acme.refund.reviewed", "acme.refund.1", amount=12, ids=[1, 2])
    setup.emit("acme.order.placed", "acme.refund.1", amount=99, ids=[])  # not expected
    time.sleep(1.0)
    assert setup.firings("refunds-reviewed") == []  # one of two
    setup.emit("acme.refund.reviewed", "acme.refund.2", amount=40, ids=[3])
    firing = wait_until(
        lambda: [
            f for f in setup.firings("refunds-reviewed") if f["actions"][0]["status"] == "done"
        ],  # type: ignore[index]
        "the automation fired and its action ran",
        timeout=30,
    )[0]
    action = firing["actions"][0]  # type: ignore[index]
    assert action["type"] == "run-deployment"
    assert action["attempts"] == 1
    run_id = action["result"]["flow_run_id"]
    final = wait_final(setup.orchestrator, run_id, timeout=120)
    assert final.state.type == "COMPLETED", final.state
    seen = [json.loads(line) for line in (setup.folder / "seen.jsonl").read_text().splitlines()]
    assert seen == [
        {
            "amount": ["int", 40],
            "ids": ["list", [3]],
            "note": ["str", "refund acme.refund.2"],
        }
    ]
    # The firing names the events that made it.
    assert len(firing["event_ids"]) == 2  # type: ignore[arg-type]


def test_a_proactive_trigger_fires_only_for_the_job_that_did_not_finish(setup: Setup) -> None:
    run_legato("work-pool", "create", "watched", env=setup.env, check=True)
    setup.automation(PROACTIVE, "proactive")
    mark = uuid.uuid4().hex[:6]
    setup.emit("acme.job.started", f"acme.job.{mark}-stuck")
    setup.emit("acme.job.started", f"acme.job.{mark}-quick")
    setup.emit("acme.job.done", f"acme.job.{mark}-quick")
    firings = wait_until(
        lambda: [f for f in setup.firings("jobs-finish") if f["kind"] == "triggered"],
        "the proactive trigger fired",
        timeout=30,
    )
    time.sleep(3.0)  # past the quick job's window too: still one firing
    firings = [f for f in setup.firings("jobs-finish") if f["kind"] == "triggered"]
    assert [f["key"] for f in firings] == [f"acme.job.{mark}-stuck"]
    assert wait_until(
        lambda: [f for f in setup.firings("jobs-finish") if f["actions"][0]["status"] == "done"],  # type: ignore[index]
        "the pool was paused",
    )
    pools = json.loads(run_legato("work-pool", "ls", "--json", env=setup.env, check=True).stdout)
    assert [p["paused"] for p in pools if p["name"] == "watched"] == [True]


def test_bad_automations_are_refused_saying_why(setup: Setup) -> None:
    loop = setup.folder / "loop.yaml"
    loop.write_text(
        "name: loop\ntrigger: {expect: [legato.flow-run.Completed]}\n"
        "actions: [{type: run-deployment, deployment: refunds/auto}]\n"
    )
    refused = run_legato("automation", "create", "-f", str(loop), env=setup.env)
    assert refused.returncode == 1
    assert "would fire it again" in refused.stderr
    everything = setup.folder / "everything.yaml"
    everything.write_text("name: all\ntrigger: {type: event}\nactions: [{type: pause-work-pool}]\n")
    refused = run_legato("automation", "create", "-f", str(everything), env=setup.env)
    assert "would match every event" in refused.stderr
    broken = setup.folder / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    refused = run_legato("automation", "create", "-f", str(broken), env=setup.env)
    assert refused.returncode == 1
    assert "not valid YAML" in refused.stderr
    twice = setup.folder / "twice.yaml"
    twice.write_text(PROACTIVE.replace("name: jobs-finish", "name: made-twice"))
    run_legato("automation", "create", "-f", str(twice), env=setup.env, check=True)
    again = run_legato("automation", "create", "-f", str(twice), env=setup.env)
    assert again.returncode == 1
    assert "exists already" in again.stderr
    listed = run_legato("automation", "ls", env=setup.env, check=True)
    assert "made-twice" in listed.stdout
    assert "loop" not in listed.stdout.split()


def test_deployment_triggers_run_it_and_deploying_again_keeps_their_counts(setup: Setup) -> None:
    triggers = setup.folder / "triggers.yaml"
    triggers.write_text(
        "- expect: [acme.upstream.done]\n"
        "  threshold: 2\n"
        "  within: 120\n"
        "  parameters: {amount: '{{ event.payload.n }}', ids: [], note: triggered}\n"
    )

    def deploy() -> None:
        run_legato(
            "deploy", "flows.py:refunds", "--name", "triggered", "--pool", "p",
            "--trigger-file", str(triggers), env=setup.env, cwd=setup.folder, check=True,
        )  # fmt: skip

    deploy()
    setup.emit("acme.upstream.done", "acme.upstream.1", n=1)
    time.sleep(1.0)
    deploy()  # the same trigger: its count of one is kept
    setup.emit("acme.upstream.done", "acme.upstream.2", n=2)
    name = "refunds/triggered trigger 1"
    firing = wait_until(
        lambda: [f for f in setup.firings(name) if f["actions"][0]["status"] == "done"],  # type: ignore[index]
        "the deployment trigger fired",
        timeout=30,
    )[0]
    run_id = firing["actions"][0]["result"]["flow_run_id"]  # type: ignore[index]
    assert wait_final(setup.orchestrator, run_id).state.type == "COMPLETED"
    assert firing["actions"][0]["result"]["parameters"] == {  # type: ignore[index]
        "amount": 2,
        "ids": [],
        "note": "triggered",
    }
    triggers.write_text("[]\n")
    deploy()  # an empty list removes the trigger
    listed = run_legato("automation", "ls", "--json", env=setup.env, check=True)
    assert name not in [a["spec"]["name"] for a in json.loads(listed.stdout)]


def test_a_worker_starting_is_an_event_of_its_own(setup: Setup) -> None:
    def started_events() -> list[dict[str, Any]]:
        found = setup.api.get("/api/events", params={"name": "legato.worker.*"}).json()
        return [e for e in found if e["resource"]["legato.resource.id"] == "legato.worker.w1"]

    # The worker process says it started once it runs: the fixture does not wait for it.
    [started] = wait_until(started_events, "the worker's start was recorded", timeout=60)
    assert started["event"] == "legato.worker.started"
    assert started["related"][0]["legato.resource.id"] == "legato.work-pool.p"


def test_a_webhook_call_becomes_an_event_that_runs_a_deployment(setup: Setup) -> None:
    template = setup.folder / "refund.j2"
    template.write_text(
        '{"event": "acme.refund.{{ body.action }}",'
        ' "resource": {"legato.resource.id": "acme.refund.{{ body.id }}"},'
        ' "payload": {{ body | tojson }}}'
    )
    made = run_legato(
        "webhook", "create", "refunds", "--template", str(template), env=setup.env, check=True
    )
    url = next(line for line in made.stdout.splitlines() if "/hooks/" in line).strip()
    setup.automation(
        "name: refund-from-webhook\n"
        "trigger: {expect: [acme.refund.approved]}\n"
        "actions:\n"
        "  - type: run-deployment\n"
        "    deployment: refunds/auto\n"
        "    parameters: {amount: '{{ event.payload.amount }}', ids: '{{ event.payload.ids }}',"
        " note: 'from {{ event.resource[\"legato.resource.id\"] }}'}\n",
        "from-webhook",
    )
    answer = httpx.post(url, json={"action": "approved", "id": 77, "amount": 9.5, "ids": [7]})
    assert answer.status_code == 200, answer.text
    firing = wait_until(
        lambda: [
            f
            for f in setup.firings("refund-from-webhook")
            if f["actions"][0]["status"] == "done"  # type: ignore[index]
        ],
        "the webhook's event ran the deployment",
        timeout=30,
    )[0]
    run_id = firing["actions"][0]["result"]["flow_run_id"]  # type: ignore[index]
    final = wait_final(setup.orchestrator, run_id)
    assert final.state.type == "COMPLETED"
    assert final.parameters == {"amount": 9.5, "ids": [7], "note": "from acme.refund.77"}
