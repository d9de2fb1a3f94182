"""Notification channels on a real server process, over its API and through the CLI in
client mode: secrets go in and never come out, a test message reaches a real receiver,
and every attempt is answered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.postgres import BACKENDS
from fixtures.receivers import HttpReceiver, http_receiver
from fixtures.servers import ServerProcess, backend_home, running_server

pytestmark = pytest.mark.slow

PUBLIC_URL = "https://legato.example.com"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp(f"notify-{request.param}")
    with backend_home(request, folder) as (home, database_url):
        env = {"LEGATO_SERVER_PUBLIC_URL": PUBLIC_URL}
        with running_server(home, folder / "server.log", database_url, env=env) as process:
            yield process


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    # Changes are taken with a JSON content type only (legato.server.guards): DELETE too.
    json_type = {"content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=60, headers=json_type) as client:
        yield client
        for channel in client.get("/api/notifications").json():
            client.delete(f"/api/notifications/{channel['name']}")


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    yield from http_receiver()


def test_created_channel_is_answered_masked_everywhere(
    api: httpx.Client, receiver: HttpReceiver
) -> None:
    spec = {
        "name": "ops",
        "config": {"kind": "webhook", "url": receiver.url, "headers": {"X-Token": "t0k3n"}},
    }
    created = api.post("/api/notifications", json=spec)
    assert created.status_code == 201, created.text
    listed = api.get("/api/notifications")
    shown = api.get("/api/notifications/ops")
    for answer in (created, listed, shown):
        assert "SECRET-PATH-42" not in answer.text
        assert "t0k3n" not in answer.text
    assert shown.json()["config"] == {
        "kind": "webhook",
        "url": f"{receiver.url.split('/hook')[0]}/********",
        "headers": {"X-Token": "********"},
    }
    again = api.post("/api/notifications", json=spec)
    assert again.status_code == 409
    assert "exists already" in again.json()["detail"]


def test_test_message_reaches_the_receiver_and_its_attempts_are_answered(
    api: httpx.Client, receiver: HttpReceiver
) -> None:
    receiver.statuses.extend([502])
    spec = {"name": "slack", "config": {"kind": "slack", "url": receiver.url}}
    assert api.post("/api/notifications", json=spec).status_code == 201

    answer = api.post("/api/notifications/slack/test", json={"subject": "hello from the API"})

    assert answer.status_code == 200, answer.text
    delivery = answer.json()
    assert delivery["status"] == "sent"
    assert [(a["outcome"], a["status_code"]) for a in delivery["attempts"]] == [
        ("retry", 502),
        ("sent", 200),
    ]
    assert receiver.answered == [502, 200]
    assert receiver.received[0].body["text"] == "hello from the API"
    deliveries = api.get("/api/notifications/slack/deliveries").json()
    assert [d["id"] for d in deliveries] == [delivery["id"]]
    assert "SECRET-PATH-42" not in json.dumps(deliveries)


def test_unknown_channels_and_bad_configs_are_refused(api: httpx.Client) -> None:
    missing = api.post("/api/notifications/nope/test", json={})
    assert missing.status_code == 404
    assert "no notification channel named 'nope'" in missing.json()["detail"]
    assert api.delete("/api/notifications/nope").status_code == 404
    bad = api.post(
        "/api/notifications",
        json={"name": "x", "config": {"kind": "slack", "url": "ftp://secret-host/zz"}},
    )
    assert bad.status_code == 422
    assert "must be an http:// or https:// URL" in bad.json()["detail"]
    assert "secret-host" not in bad.text
    unknown = api.post(
        "/api/notifications", json={"name": "x", "config": {"kind": "pager", "url": "x"}}
    )
    assert unknown.status_code == 422


def test_cli_in_client_mode_goes_through_the_server(
    server: ServerProcess, receiver: HttpReceiver, tmp_path: Path
) -> None:
    env = legato_env(tmp_path / "client-home", api_url=server.url)
    run_legato("notification", "create", "team", "--teams", receiver.url, env=env, check=True)
    shown = run_legato("notification", "show", "team", env=env, check=True)
    assert "SECRET-PATH-42" not in shown.stdout
    assert "/********" in shown.stdout
    tested = run_legato("notification", "test", "team", env=env, check=True)
    assert "attempt 1: sent (200)" in tested.stdout
    assert receiver.received[0].body["attachments"][0]["content"]["type"] == "AdaptiveCard"
    listed = run_legato("notification", "deliveries", "team", "--json", env=env, check=True)
    [delivery] = json.loads(listed.stdout)
    assert delivery["status"] == "sent"
    run_legato("notification", "delete", "team", env=env, check=True)
    gone = run_legato("notification", "show", "team", env=env)
    assert gone.returncode == 1
    assert "no notification channel named 'team'" in gone.stderr
    # the client made no key of its own: the server holds the secrets
    assert not (tmp_path / "client-home" / "encryption.key").exists()
