"""Webhooks through a real server: made with the CLI, called over HTTP as GitHub or
``curl`` would (JSON, forms, headers, query), the events read back from the API; every
request no event can be made of answered 400 saying why, with nothing stored; keys,
rotation, deletion, and pages of other sites."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.servers import ServerProcess, running_server
from fixtures.waiting import wait_until

PUSH = """{
  "event": "github.{{ headers['x-github-event'] }}",
  "resource": {
    "legato.resource.id": "github.repo.{{ body.repository.full_name }}",
    "github.ref": {{ body.ref | tojson }}
  },
  "payload": {
    "commits": {{ body.commits | length }},
    "pusher": {{ body.pusher.name | tojson }},
    "source": {{ query.source | default("unknown") | tojson }}
  }
}
"""
PUSH_BODY = {
    "ref": "refs/heads/main",
    "repository": {"full_name": "acme/etl"},
    "pusher": {"name": "kim"},
    "commits": [{"id": "a1"}, {"id": "b2"}],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("webhooks-api")
    with running_server(folder / "server-home", folder / "server.log") as started:
        yield started


@pytest.fixture
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def env(server: ServerProcess, tmp_path: Path) -> dict[str, str]:
    return legato_env(tmp_path / "cli", api_url=server.url)


def _create(env: dict[str, str], tmp_path: Path, template: str, *options: str) -> tuple[str, str]:
    """``legato webhook create`` of a new name: (name, the URL it printed)."""
    name = f"hook-{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.json.j2"
    path.write_text(template)
    made = run_legato("webhook", "create", name, "--template", str(path), *options, env=env)
    assert made.returncode == 0, made.stderr
    [url] = [line for line in made.stdout.splitlines() if "/hooks/" in line]
    return name, url


def _events(api: httpx.Client, **params: str) -> list[dict[str, object]]:
    response = api.get("/api/events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


def _about(api: httpx.Client, webhook_id: str) -> list[dict[str, object]]:
    return _events(api, related=f"legato.webhook.{webhook_id}")


def _webhook_id(env: dict[str, str], name: str) -> str:
    shown = run_legato("webhook", "show", name, "--json", env=env, check=True)
    return str(json.loads(shown.stdout)["id"])


def test_a_json_post_becomes_the_event_the_template_renders(
    api: httpx.Client, env: dict[str, str], tmp_path: Path, server: ServerProcess
) -> None:
    name, url = _create(env, tmp_path, PUSH, "--description", "GitHub pushes")
    assert url.startswith(f"{server.url}/hooks/")
    response = httpx.post(
        url,
        params={"source": "github"},
        json=PUSH_BODY,
        headers={"X-GitHub-Event": "push"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["event"] == "github.push" and answer["stored"] is True
    [event] = _about(api, _webhook_id(env, name))
    assert event["id"] == answer["id"]
    assert event["event"] == "github.push"
    assert event["resource"] == {
        "legato.resource.id": "github.repo.acme/etl",
        "github.ref": "refs/heads/main",
    }
    assert event["payload"] == {"commits": 2, "pusher": "kim", "source": "github"}
    assert event["related"] == [
        {
            "legato.resource.id": f"legato.webhook.{_webhook_id(env, name)}",
            "legato.resource.role": "webhook",
            "legato.resource.name": name,
        }
    ]
    listed = run_legato("webhook", "ls", env=env, check=True)
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(name))
    slug = url.rsplit("/", 1)[1]
    assert f"/hooks/{slug[:4]}..." in line and slug not in listed.stdout
    assert "GitHub pushes" in line
    # The server's access log shows what ls shows, never a URL that works.
    wait_until(lambda: f'"POST /hooks/{slug[:4]}...' in server.log(), "the access line")
    assert slug not in server.log()


def test_a_form_post_without_any_header_of_ours_is_an_event(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = (
        '{"event": "acme.form.{{ body.action }}", '
        '"resource": {"legato.resource.id": "acme.ticket.{{ body.ticket }}"}, '
        '"payload": {"fields": {{ body | tojson }}, "raw": {{ raw_body | tojson }}, '
        '"agent": {{ headers["user-agent"] | tojson }}, '
        '"note": {{ headers["x-note"] | tojson }}}}'
    )
    name, url = _create(env, tmp_path, template)
    # What `curl -d action=closed -d ticket=7` sends: a form, no Authorization, no JSON.
    response = httpx.post(
        url,
        content=b"action=closed&ticket=7&note=a+b%21",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "curl/8",
            "X-Note": "café".encode(),
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    [event] = _about(api, _webhook_id(env, name))
    assert event["event"] == "acme.form.closed"
    assert event["resource"] == {"legato.resource.id": "acme.ticket.7"}
    assert event["payload"] == {
        "fields": {"action": "closed", "ticket": "7", "note": "a b!"},
        "raw": "action=closed&ticket=7&note=a+b%21",
        "agent": "curl/8",
        "note": "café",
    }
    text = httpx.put(url, content=b"plain words", headers={"Content-Type": "text/plain"})
    assert text.status_code == 400  # the body is text: body.action is undefined
    assert "'str object' has no attribute 'action'" in text.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "named"),
    [
        (b'{"ref": ', "application/json", "is not valid JSON"),
        (b"\xff\xfe{}", "application/json", "is not utf-8 text"),
        (b'{"ref": NaN}', "application/json", "NaN is not JSON"),
        (json.dumps({"ref": "x"}).encode(), "application/json", "no attribute 'repository'"),
        (b"{}", "application/json; charset=klingon", "charset 'klingon'"),
    ],
    ids=["broken-json", "not-utf8", "nan", "missing-field", "unknown-charset"],
)
def test_a_request_no_event_can_be_made_of_gets_400_saying_why(
    api: httpx.Client,
    env: dict[str, str],
    tmp_path: Path,
    content: bytes,
    content_type: str,
    named: str,
) -> None:
    name, url = _create(env, tmp_path, PUSH)
    response = httpx.post(
        url,
        content=content,
        headers={"Content-Type": content_type, "X-GitHub-Event": "push"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert named in response.json()["detail"]
    webhook_id = _webhook_id(env, name)
    assert _about(api, webhook_id) == []
    # The webhook's owner can read why the sender was refused.
    [failed] = _events(api, name="legato.webhook.failed", resource=f"legato.webhook.{webhook_id}")
    assert failed["payload"] == {
        "reason": response.json()["detail"],
        "content_type": content_type,
        "body_bytes": len(content),
    }


@pytest.mark.parametrize(
    ("template", "named"),
    [
        (
            '{"event": "legato.flow-run.Failed", "resource": {"legato.resource.id": "x"}}',
            "legato's own",
        ),
        ('{"event": "acme.x", "resource": {"legato.resource.id": "{{ body.name }}"}}', "line 1"),
        ('{"event": "acme.x",\n "resource": {"acme.label": "no id"}}', "legato.resource.id"),
        ('{"event": "acme.x", "resource": {"legato.resource.id": {{ body.n }}}}', "resource"),
        ('{"event": "acme.{{ body.name }}", "resource": {}}', "did not render JSON"),
        ("[1, 2]", "not an object"),
        ('{{ "x" * 100000000 }}', "past the limit"),
    ],
    ids=["reserved-name", "undefined", "no-resource-id", "label-not-text", "quotes", "list", "big"],
)
def test_a_template_that_fails_on_a_request_gets_400_and_stores_nothing(
    api: httpx.Client, env: dict[str, str], tmp_path: Path, template: str, named: str
) -> None:
    name, url = _create(env, tmp_path, template)
    response = httpx.post(url, json={"n": 5, "name": 'say "hi"'}, timeout=30)
    assert response.status_code == 400, response.text
    assert named in response.json()["detail"]
    assert _about(api, _webhook_id(env, name)) == []


def test_a_template_with_a_syntax_error_is_refused_at_create_naming_the_line(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.j2"
    bad.write_text('{\n  "event": "acme.x",\n  "resource": {{ body.x }\n}\n')
    made = run_legato("webhook", "create", "broken", "--template", str(bad), env=env)
    assert made.returncode == 1
    assert "line 3" in made.stderr and "unexpected '}'" in made.stderr
    assert str(bad) in made.stderr
    assert "broken" not in run_legato("webhook", "ls", env=env, check=True).stdout
    good = tmp_path / "good.j2"
    good.write_text('{"event": "acme.x", "resource": {"legato.resource.id": "x"}}')
    slashed = run_legato("webhook", "create", "a/b", "--template", str(good), env=env)
    assert slashed.returncode == 1
    assert slashed.stderr.startswith("error: NAME: a webhook name is 1 to 255 characters")
    # The API checks it too, for clients other than the CLI.
    refused = api.post("/api/webhooks", json={"name": "broken", "template": bad.read_text()})
    assert refused.status_code == 422
    assert "syntax error on line 3" in refused.json()["detail"]
    assert api.get("/api/webhooks/broken").status_code == 404


def test_rotating_ends_the_old_url_and_deleting_ends_the_new(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = '{"event": "acme.ping", "resource": {"legato.resource.id": "acme.ping"}}'
    name, old = _create(env, tmp_path, template)
    assert httpx.post(old, timeout=30).status_code == 200
    rotated = run_legato("webhook", "rotate", name, "--json", env=env, check=True)
    new = json.loads(rotated.stdout)["url"]
    assert new != old
    gone = httpx.post(old, timeout=30)
    assert gone.status_code == 404
    assert "no such webhook" in gone.json()["detail"]
    assert httpx.post(new, timeout=30).status_code == 200
    assert len(_about(api, _webhook_id(env, name))) == 2
    run_legato("webhook", "delete", name, env=env, check=True)
    assert httpx.post(new, timeout=30).status_code == 404
    assert httpx.post(f"{new}x", timeout=30).status_code == 404
    again = run_legato("webhook", "delete", name, env=env)
    assert again.returncode == 1 and f"no webhook named '{name}'" in again.stderr


def test_a_disabled_webhook_stores_nothing_until_enabled(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = '{"event": "acme.ping", "resource": {"legato.resource.id": "acme.ping"}}'
    name, url = _create(env, tmp_path, template)
    run_legato("webhook", "disable", name, env=env, check=True)
    refused = httpx.post(url, timeout=30)
    assert refused.status_code == 403 and "disabled" in refused.text
    assert _about(api, _webhook_id(env, name)) == []
    run_legato("webhook", "enable", name, env=env, check=True)
    assert httpx.post(url, timeout=30).status_code == 200


def test_a_retried_delivery_with_its_own_id_is_stored_once(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = (
        '{"id": {{ headers["x-github-delivery"] | tojson }}, "event": "acme.delivery", '
        '"resource": {"legato.resource.id": "acme.delivery"}}'
    )
    name, url = _create(env, tmp_path, template)
    delivery = str(uuid.uuid4())
    headers = {"X-GitHub-Delivery": delivery}
    first = httpx.post(url, json={}, headers=headers, timeout=30).json()
    second = httpx.post(url, json={}, headers=headers, timeout=30).json()
    assert first == {"id": delivery, "event": "acme.delivery", "stored": True}
    assert second == {"id": delivery, "event": "acme.delivery", "stored": False}
    assert [e["id"] for e in _about(api, _webhook_id(env, name))] == [delivery]


def test_pages_of_other_sites_cannot_call_a_webhook_and_get_is_not_answered(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = '{"event": "acme.ping", "resource": {"legato.resource.id": "acme.ping"}}'
    name, url = _create(env, tmp_path, template)
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = httpx.post(url, data={"a": "1"}, headers=headers, timeout=30)
        assert refused.status_code == 403, refused.text
        assert "cross-site" in refused.json()["detail"]
    assert httpx.get(url, timeout=30).status_code == 405
    assert _about(api, _webhook_id(env, name)) == []


def test_a_require_key_webhook_wants_a_key_even_on_a_keyless_server(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    template = '{"event": "acme.keyed", "resource": {"legato.resource.id": "acme.keyed"}}'
    _, url = _create(env, tmp_path, template, "--require-key")
    # This server holds no key at all: the webhook still wants one.
    refused = httpx.post(url, timeout=30)
    assert refused.status_code == 401
    assert "requires an API key" in refused.json()["detail"]


def test_keys_on_a_server_that_requires_them(tmp_path: Path) -> None:
    """Made in embedded mode (no server yet), called once the server runs: a keyless
    webhook needs no key though the API does; a keyed one wants one that can write."""
    home = tmp_path / "home"
    local = legato_env(home)
    writer = run_legato("api-key", "create", "writer", env=local, check=True)
    reader = run_legato("api-key", "create", "reader", "--read-only", env=local, check=True)
    write_key = writer.stdout.splitlines()[1]
    read_key = reader.stdout.splitlines()[1]
    template = tmp_path / "t.j2"
    template.write_text('{"event": "acme.k", "resource": {"legato.resource.id": "acme.k"}}')
    paths = {}
    for name, options in (("open", ()), ("keyed", ("--require-key",))):
        made = run_legato(
            "webhook", "create", name, "--template", str(template), *options, env=local
        )
        assert made.returncode == 0, made.stderr
        assert "a path" in made.stdout  # no server URL known in embedded mode
        paths[name] = next(ln for ln in made.stdout.splitlines() if ln.startswith("/hooks/"))
    with running_server(home, tmp_path / "server.log") as server:
        assert httpx.get(f"{server.url}/api/webhooks").status_code == 401
        assert httpx.post(f"{server.url}{paths['open']}", timeout=30).status_code == 200
        keyed = f"{server.url}{paths['keyed']}"
        assert httpx.post(keyed, timeout=30).status_code == 401
        bad = httpx.post(keyed, headers={"Authorization": "Bearer lgk_nope"}, timeout=30)
        assert bad.status_code == 401
        read_only = httpx.post(keyed, headers={"Authorization": f"Bearer {read_key}"})
        assert read_only.status_code == 403
        assert "read-only" in read_only.json()["detail"]
        good = httpx.post(keyed, headers={"Authorization": f"Bearer {write_key}"}, timeout=30)
        assert good.status_code == 200, good.text
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {read_key}"}, timeout=30
        ) as api:
            stored = _events(api, name="acme.k")
        assert len(stored) == 2
        listed = run_legato("webhook", "ls", "--json", env=legato_env(tmp_path / "c", server.url))
        assert listed.returncode == 1 and "LEGATO_API_KEY" in listed.stderr
        client = legato_env(tmp_path / "c", server.url, LEGATO_API_KEY=write_key)
        shown = run_legato("webhook", "ls", "--json", env=client, check=True)
        assert [w["name"] for w in json.loads(shown.stdout)] == ["keyed", "open"]


def test_updating_the_template_keeps_the_url(
    api: httpx.Client, env: dict[str, str], tmp_path: Path
) -> None:
    name, url = _create(
        env, tmp_path, '{"event": "acme.v1", "resource": {"legato.resource.id": "acme.v"}}'
    )
    second = tmp_path / "v2.j2"
    second.write_text('{"event": "acme.v2", "resource": {"legato.resource.id": "acme.v"}}')
    run_legato("webhook", "update", name, "--template", str(second), env=env, check=True)
    assert httpx.post(url, timeout=30).json()["event"] == "acme.v2"
    shown = run_legato("webhook", "show", name, env=env, check=True).stdout
    assert '"event": "acme.v2"' in shown and "not required" in shown
    bad = tmp_path / "bad.j2"
    bad.write_text("{% for %}")
    refused = run_legato("webhook", "update", name, "--template", str(bad), env=env)
    assert refused.returncode == 1 and "line 1" in refused.stderr
    assert httpx.post(url, timeout=30).json()["event"] == "acme.v2"
    nothing = run_legato("webhook", "update", name, env=env)
    assert nothing.returncode == 1 and "nothing to change" in nothing.stderr
