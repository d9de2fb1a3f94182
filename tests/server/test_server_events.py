"""Events through a real server: batches stored once, refused with the limit named,
read a page at a time, followed live over server-sent events (resuming after
``Last-Event-ID`` with no gap), sent by a flow in client mode, and the flow's state
changes made events by the server's event service without anyone reading them."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.servers import ServerProcess, running_server
from fixtures.waiting import wait_until
from legato.schemas.events import MAX_BATCH, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH

FLOW = """
from legato import emit_event, flow, task


@task
def double(x):
    return 2 * x


@flow(name="refunds")
def refunds():
    emit_event(
        "acme.refund.reviewed",
        {"legato.resource.id": "acme.refund.42", "acme.amount": "12.50"},
        related=[{"legato.resource.id": "acme.customer.7", "legato.resource.role": "customer"}],
        payload={"reviewer": "kim", "items": [1, 2]},
    )
    return [double(n) for n in range(3)]


refunds()
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("events-api")
    with running_server(folder / "server-home", folder / "server.log") as started:
        yield started


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _event(name: str, resource_id: str, **more: object) -> dict[str, object]:
    return {"event": name, "resource": {"legato.resource.id": resource_id}, **more}


def _all(api: httpx.Client, **params: object) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    query: dict[str, object] = {"limit": 2, **params}
    while True:
        response = api.get("/api/events", params=query)
        assert response.status_code == 200, response.text
        seen += response.json()
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            return seen
        query["after"] = cursor


def test_a_batch_is_stored_once_and_read_back_by_its_filters(api: httpx.Client) -> None:
    mark = uuid.uuid4().hex[:8]
    batch = [
        _event(f"acme.{mark}.created", "acme.order.1", id=str(uuid.uuid4())),
        _event(f"acme.{mark}.paid", "acme.order.1", id=str(uuid.uuid4())),
        _event(f"acme.{mark}.created", "acme.order.2", id=str(uuid.uuid4())),
    ]
    first = api.post("/api/events", json=batch)
    assert first.status_code == 200, first.text
    assert first.json() == {"stored": 3, "duplicates": 0}
    again = api.post("/api/events", json=batch)  # a retry after a lost answer
    assert again.json() == {"stored": 0, "duplicates": 3}
    found = _all(api, name=f"acme.{mark}.*")
    assert [(e["event"], e["resource"]["legato.resource.id"]) for e in found] == [  # type: ignore[index]
        (f"acme.{mark}.created", "acme.order.1"),
        (f"acme.{mark}.paid", "acme.order.1"),
        (f"acme.{mark}.created", "acme.order.2"),
    ]
    only_two = _all(api, name=f"acme.{mark}.*", resource="acme.order.2")
    assert [e["event"] for e in only_two] == [f"acme.{mark}.created"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (_event("legato.flow-run.Failed", "legato.flow-run.x"), "legato's own"),
        ({"event": "acme.x", "resource": {"acme.label": "no id"}}, "legato.resource.id"),
        (_event("acme x", "acme.1"), "string should match pattern"),
        (_event("a" * 1025, "acme.1"), "at most 1024 characters"),
        (_event("acme.x", "acme.1", payload={"blob": "x" * MAX_PAYLOAD_BYTES}), "bytes as JSON"),
        (_event("acme.x", "acme.1", related=[{"legato.resource.id": "a"}]), "role"),
        (_event("acme.x", "acme.1", surprise=1), "extra inputs"),
        (
            {"event": "acme.x", "resource": {"legato.resource.id": "a", "k": "v" * 2000}},
            "at most 1024",
        ),
    ],
)
def test_bad_events_are_refused_naming_the_limit(
    api: httpx.Client, body: dict[str, object], named: str
) -> None:
    response = api.post("/api/events", json=[body, _event("acme.fine", "acme.1")])
    assert response.status_code == 422, response.text
    assert named.lower() in response.text.lower()
    assert not [e for e in _all(api, name="acme.fine") if e["resource"]]  # none stored in part


def test_deep_payloads_and_huge_batches_are_refused(api: httpx.Client) -> None:
    deep: object = 1
    for _ in range(MAX_PAYLOAD_DEPTH + 5):
        deep = [deep]
    response = api.post("/api/events", json=[_event("acme.deep", "acme.1", payload={"d": deep})])
    assert response.status_code == 422
    assert f"deeper than {MAX_PAYLOAD_DEPTH}" in response.text
    too_many = [_event("acme.many", f"acme.{n}") for n in range(MAX_BATCH + 1)]
    response = api.post("/api/events", json=too_many)
    assert response.status_code == 422, response.text
    assert str(MAX_BATCH) in response.text
    not_utf8 = api.post(
        "/api/events",
        content=b'[{"event": "acme.x", "resource": {"legato.resource.id": "\xff\xfe"}}]',
        headers={"content-type": "application/json"},
    )
    assert not_utf8.status_code in (400, 422), not_utf8.text
    assert _all(api, name="acme.many") == []


def test_a_flow_in_client_mode_sends_events_and_its_states_become_events(
    server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    script = tmp_path / "refunds.py"
    script.write_text(FLOW)
    done = subprocess.run(
        [sys.executable, str(script)],
        env=legato_env(tmp_path / "client", api_url=server.url),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sent = _all(api, name="acme.refund.reviewed")
    assert len(sent) == 1
    assert sent[0]["resource"] == {
        "legato.resource.id": "acme.refund.42",
        "acme.amount": "12.50",
    }
    assert sent[0]["payload"] == {"reviewer": "kim", "items": [1, 2]}

    # The run's states are events too, the stream sends them.
    def refunds_states() -> list[str]:
        found = [
            str(e["event"])
            for e in _stream_page(api, name="legato.flow-run.*", after="0.0")
            if "'refunds'" in str(e["related"])
        ]
        return found if "legato.flow-run.Completed" in found else []

    run_states = wait_until(refunds_states, "the flow run's states as events", timeout=30)
    assert run_states == [
        "legato.flow-run.Pending",
        "legato.flow-run.Running",
        "legato.flow-run.Completed",
    ]
    tasks = _all(api, name="legato.task-run.Completed", related="legato.flow.*")
    assert len([e for e in tasks if "double" in str(e["resource"])]) == 3


def _stream_page(api: httpx.Client, **params: object) -> list[dict[str, object]]:
    """The events the live stream sends at once (it is read until it has been quiet)."""
    found: list[dict[str, object]] = []
    try:
        with api.stream("GET", "/api/events/stream", params=params, timeout=2.0) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if line.startswith("data: "):
                    found.append(json.loads(line[6:]))
    except httpx.ReadTimeout:
        pass
    return found


def test_the_live_stream_resumes_after_last_event_id_without_a_gap(api: httpx.Client) -> None:
    mark = uuid.uuid4().hex[:8]
    name = f"acme.{mark}.tick"
    api.post("/api/events", json=[_event(name, f"acme.{n}") for n in range(3)])
    received: list[tuple[str, str]] = []
    with api.stream(
        "GET", "/api/events/stream", params={"name": name, "after": "0.0"}, timeout=10
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        cursor = None
        for line in response.iter_lines():
            if line.startswith("id: "):
                cursor = line[4:]
            elif line.startswith("data: "):
                event = json.loads(line[6:])
                assert event["cursor"] == cursor
                received.append((event["cursor"], event["resource"]["legato.resource.id"]))
                if len(received) == 2:
                    break  # the client drops after two
    api.post("/api/events", json=[_event(name, f"acme.{n}") for n in range(3, 5)])
    resumed: list[str] = []
    with api.stream(
        "GET",
        "/api/events/stream",
        params={"name": name},
        headers={"Last-Event-ID": received[-1][0]},
        timeout=10,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                resumed.append(json.loads(line[6:])["resource"]["legato.resource.id"])
                if len(resumed) == 3:
                    break
    assert [r for _, r in received] + resumed == [f"acme.{n}" for n in range(5)]
    bad = api.get("/api/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert bad.status_code == 422
    assert "Last-Event-ID" in bad.text


def test_the_cli_sends_lists_and_filters_events(server: ServerProcess, tmp_path: Path) -> None:
    env = legato_env(tmp_path / "cli", api_url=server.url)
    sent = run_legato(
        "events",
        "emit",
        "acme.cli.sent",
        "--resource",
        "acme.thing.9",
        "--resource",
        "acme.size=big",
        "--related",
        "acme.customer.7:customer",
        "--payload",
        '{"n": 3}',
        env=env,
    )
    assert sent.returncode == 0, sent.stderr
    listed = run_legato("events", "ls", "--name", "acme.cli.*", "--json", env=env, check=True)
    [event] = json.loads(listed.stdout)
    assert event["resource"] == {"legato.resource.id": "acme.thing.9", "acme.size": "big"}
    assert event["related"] == [
        {"legato.resource.id": "acme.customer.7", "legato.resource.role": "customer"}
    ]
    assert event["payload"] == {"n": 3}
    shown = run_legato("events", "ls", "--resource", "acme.size=big", env=env, check=True)
    assert "acme.cli.sent  acme.thing.9" in shown.stdout
    refused = run_legato("events", "emit", "legato.flow-run.Failed", "--resource", "x", env=env)
    assert refused.returncode == 1
    assert "legato's own" in refused.stderr
    bad_payload = run_legato(
        "events", "emit", "acme.x", "--resource", "x", "--payload", "[1]", env=env
    )
    assert bad_payload.returncode == 1
    assert "JSON object" in bad_payload.stderr
    since = run_legato("events", "ls", "--since", "soon", env=env)
    assert since.returncode == 1
    assert "--since" in since.stderr


def test_a_read_only_key_reads_events_but_cannot_send_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = run_legato("api-key", "create", "reader", "--read-only", env=legato_env(home))
    assert made.returncode == 0, made.stderr
    key = made.stdout.splitlines()[1]
    with running_server(home, tmp_path / "server.log") as server:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, timeout=30, headers=headers) as api:
            refused = api.post("/api/events", json=[_event("acme.x", "acme.1")])
            assert refused.status_code == 403
            assert api.get("/api/events").status_code == 200
        assert httpx.get(f"{server.url}/api/events").status_code == 401


def test_events_tail_prints_events_as_they_arrive(
    server: ServerProcess, api: httpx.Client, tmp_path: Path
) -> None:
    from fixtures.commands import start_legato
    from fixtures.processes import stop

    mark = uuid.uuid4().hex[:8]
    output = tmp_path / "tail.out"
    env = legato_env(tmp_path / "cli", api_url=server.url)
    tail = start_legato(
        ["events", "tail", "--name", f"acme.{mark}.*", "--json"],
        env=env,
        cwd=tmp_path,
        output=output,
    )
    try:

        def tailed() -> list[dict[str, object]]:
            text = output.read_text() if output.exists() else ""
            return [json.loads(ln) for ln in text.splitlines() if ln.startswith("{")]

        def ready() -> bool:  # tail reads where the newest event is when it starts
            api.post("/api/events", json=[_event(f"acme.{mark}.ready", "acme.ready")])
            return bool(tailed())

        wait_until(ready, "tail is following", timeout=60, interval=0.5)
        for n in range(3):
            api.post("/api/events", json=[_event(f"acme.{mark}.step", f"acme.{n}")])
        steps = wait_until(
            lambda: (
                [e for e in tailed() if str(e["event"]).endswith(".step")][:3]
                if len([e for e in tailed() if str(e["event"]).endswith(".step")]) >= 3
                else None
            ),
            "three events tailed",
            timeout=30,
        )
    finally:
        stop(tail)
    assert [e["resource"]["legato.resource.id"] for e in steps] == [  # type: ignore[index]
        "acme.0",
        "acme.1",
        "acme.2",
    ]
