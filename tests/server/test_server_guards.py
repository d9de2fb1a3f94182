"""Cross-site requests and DNS rebinding against a real keyless loopback server.

A page of any site could make a browser pause a work pool with a bodiless POST, and
a rebound DNS name reached the server with any Host header: both are refused now,
while legato's own client and CLI keep working.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.served import Served
from fixtures.servers import start_server
from legato.cli.server import allowed_hosts
from legato.server.guards import check_request, normalize_allowed_hosts

POOL = "guarded"
JSON = {"Content-Type": "application/json"}


def _pool_paused(api: httpx.Client) -> bool:
    pools = {pool["name"]: pool for pool in api.get("/api/work_pools").json()}
    return bool(pools[POOL]["paused"])


@pytest.fixture
def pool(api: httpx.Client) -> str:
    created = api.post("/api/work_pools", json={"name": POOL})
    assert created.status_code in (201, 409), created.text
    api.post(f"/api/work_pools/{POOL}/resume", headers=JSON)
    assert not _pool_paused(api)
    return POOL


def _netloc(served: Served) -> str:
    return served.url.removeprefix("http://")


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
        {"Origin": "http://evil.example", "Content-Type": "application/json"},
        {"Origin": "null", "Content-Type": "text/plain"},
        {"Origin": "http://localhost:1", "Content-Type": "application/json"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["no-body", "form", "json", "null-origin", "other-port", "sec-fetch-site"],
)
def test_cross_site_pause_is_refused_403_when_a_page_sends_it(
    api: httpx.Client, pool: str, headers: dict[str, str]
) -> None:
    response = api.post(f"/api/work_pools/{pool}/pause", headers=headers)

    assert response.status_code == 403, response.text
    assert "cross-site request refused" in response.json()["detail"]
    assert not _pool_paused(api)


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_change_without_json_content_type_is_refused_403_when_no_origin_is_sent(
    api: httpx.Client, pool: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    paused = api.post(f"/api/work_pools/{pool}/pause", headers=headers)
    deleted = api.delete("/api/concurrency_limits/anything", headers=headers)

    assert (paused.status_code, deleted.status_code) == (403, 403), paused.text
    assert "changes need 'Content-Type: application/json'" in paused.json()["detail"]
    assert not _pool_paused(api)


def test_change_is_accepted_when_json_typed_or_same_origin(
    served: Served, api: httpx.Client, pool: str
) -> None:
    same_origin = {"Origin": served.url, "Content-Type": "application/x-www-form-urlencoded"}

    assert api.post(f"/api/work_pools/{pool}/pause", headers=JSON).status_code == 200
    assert _pool_paused(api)
    assert api.post(f"/api/work_pools/{pool}/resume", headers=same_origin).status_code == 200
    assert not _pool_paused(api)
    with_charset = {"Content-Type": "application/json; charset=utf-8"}
    assert api.post(f"/api/work_pools/{pool}/pause", headers=with_charset).status_code == 200
    assert _pool_paused(api)


def test_legato_cli_pauses_and_resumes_a_pool_when_using_the_server(
    served: Served, api: httpx.Client, pool: str, tmp_path: Path
) -> None:
    env = legato_env(tmp_path / "client", served.url)

    def legato(*args: str) -> subprocess.CompletedProcess[str]:
        return run_legato(*args, env=env, timeout=60)

    paused = legato("work-pool", "pause", pool)
    assert paused.returncode == 0, paused.stderr
    assert _pool_paused(api)
    resumed = legato("work-pool", "resume", pool)
    assert resumed.returncode == 0, resumed.stderr
    assert not _pool_paused(api)


@pytest.mark.parametrize("path", ["/api/flow_runs", "/api/health"])
@pytest.mark.parametrize("host", ["evil.example", "evil.example:4200", "127.0.0.1.nip.io"])
def test_rebound_host_name_is_refused_400_when_the_server_is_on_loopback(
    api: httpx.Client, path: str, host: str
) -> None:
    response = api.get(path, headers={"Host": host})

    assert response.status_code == 400, response.text
    assert host.split(":")[0] in response.json()["detail"]
    assert "LEGATO_SERVER_ALLOWED_HOSTS" in response.json()["detail"]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1", "[::1]", "LOCALHOST"])
def test_loopback_host_names_are_answered_with_any_port(
    served: Served, api: httpx.Client, name: str
) -> None:
    port = _netloc(served).rsplit(":", 1)[1]
    for host in (name, f"{name}:{port}", f"{name}:1"):
        assert api.get("/api/flow_runs", headers={"Host": host}).status_code == 200, host


def test_configured_host_name_is_answered_when_listed_in_allowed_hosts(
    tmp_path: Path,
) -> None:
    server = start_server(
        tmp_path / "home",
        tmp_path / "server.log",
        env={"LEGATO_SERVER_ALLOWED_HOSTS": "legato.internal, .corp.example"},
    )
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answers = {
                host: client.get("/api/flow_runs", headers={"Host": host}).status_code
                for host in (
                    "legato.internal:4200",
                    "build.corp.example",
                    "corp.example",
                    "127.0.0.1",
                    "evil.example",
                    "notcorp.example",
                )
            }
    finally:
        assert server.stop() == 0
    assert answers == {
        "legato.internal:4200": 200,
        "build.corp.example": 200,
        "corp.example": 200,
        "127.0.0.1": 200,
        "evil.example": 400,
        "notcorp.example": 400,
    }


def test_server_bound_to_another_loopback_address_answers_there_when_reached_by_it(
    tmp_path: Path,
) -> None:
    """``--host 127.0.0.2`` is loopback, so only loopback names were answered, and its
    own address was not one: every client, its own worker included, got 400."""
    server = start_server(
        tmp_path / "home",
        tmp_path / "server.log",
        worker=True,
        host="127.0.0.2",
        options=("--log-level", "debug"),  # claims' access lines are shown only at debug
    )
    try:
        deadline = time.monotonic() + 60
        listed = httpx.get(f"{server.url}/api/work_pools", timeout=30)
        claimed = '"POST /api/work_pools/default/claim HTTP/1.1" 200'
        while claimed not in server.log() and time.monotonic() < deadline:
            time.sleep(0.2)
        rebound = httpx.get(
            f"{server.url}/api/work_pools", headers={"Host": "evil.example"}, timeout=30
        )
    finally:
        assert server.stop() == 0
    assert listed.status_code == 200, listed.text
    assert rebound.status_code == 400
    assert claimed in server.log(), "its own worker's claims were refused"
    assert "refused POST /api/work_pools/default/claim" not in server.log()


@pytest.mark.parametrize(
    ("bind", "own"),
    [("127.0.0.2", "127.0.0.2"), ("0:0:0:0:0:0:0:1", "[0:0:0:0:0:0:0:1]"), ("::1", "[::1]")],
)
def test_allowed_hosts_include_the_loopback_address_bound_when_not_a_usual_name(
    bind: str, own: str
) -> None:
    hosts = allowed_hosts(bind, [])
    assert hosts is not None
    assert own in normalize_allowed_hosts(hosts)
    assert allowed_hosts("0.0.0.0", []) is None


# -- the decisions alone -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "status"),
    [
        ("GET", {"host": "127.0.0.1:4200"}, None),
        ("GET", {"host": "127.0.0.1:4200", "origin": "http://evil.example"}, None),
        ("POST", {"host": "127.0.0.1:4200"}, 403),
        ("POST", {"host": "127.0.0.1:4200", "authorization": "Bearer k"}, None),
        ("PUT", {"host": "127.0.0.1:4200", "content-type": "application/merge-patch+json"}, None),
        ("POST", {"host": "localhost", "origin": "http://localhost:80"}, None),
        ("POST", {"host": "localhost:80", "origin": "http://localhost"}, None),
        ("POST", {"host": "localhost:4200", "origin": "https://localhost:4200"}, 403),
        ("POST", {"host": "[::1]:4200", "origin": "http://[::1]:4200"}, None),
        ("POST", {"host": "[::1]:4200", "origin": "http://[::1]:4201"}, 403),
        ("DELETE", {"host": "localhost", "sec-fetch-site": "same-site"}, 403),
        ("POST", {"host": "localhost", "sec-fetch-site": "same-origin"}, 403),
        ("POST", {"host": "evil.example", "content-type": "application/json"}, 400),
        ("POST", {"content-type": "application/json"}, None),
    ],
)
def test_check_request_decides_from_method_and_headers(
    method: str, headers: dict[str, str], status: int | None
) -> None:
    allowed = normalize_allowed_hosts(["localhost", "127.0.0.1", "[::1]"])

    refusal = check_request(method, headers, allowed_hosts=allowed)

    assert (refusal.status if refusal else None) == status


def test_allowed_hosts_are_normalized_when_configured_with_ports_and_brackets() -> None:
    assert normalize_allowed_hosts(["LOCALHOST:4200", "::1", "[::1]:80", " *", ""]) == (
        "localhost",
        "[::1]",
        "*",
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"host": "127.0.0.1:4200"}, None),
        ({"host": "127.0.0.1:4200", "content-type": "application/x-www-form-urlencoded"}, None),
        ({"host": "127.0.0.1:4200", "content-type": "text/plain"}, None),
        ({"host": "127.0.0.1:4200", "origin": "http://evil.example"}, 403),
        ({"host": "127.0.0.1:4200", "sec-fetch-site": "cross-site"}, 403),
        ({"host": "evil.example"}, 400),
    ],
)
def test_webhook_paths_take_any_content_type_but_not_pages_of_other_sites(
    headers: dict[str, str], status: int | None
) -> None:
    allowed = normalize_allowed_hosts(["localhost", "127.0.0.1", "[::1]"])

    refusal = check_request("POST", headers, allowed_hosts=allowed, from_services=True)

    assert (refusal.status if refusal else None) == status
    if refusal is not None and "origin" in headers:
        assert "webhooks take requests from services" in refusal.detail
