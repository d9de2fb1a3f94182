"""A flow run's credential on a real server with API keys: a worker's flow processes
never see the worker's key, only their own run's token, which opens that run and
nothing else, and stops working when the run ends; the server's own worker key is
stored as an internal key, listed, revocable, and deleted when the server stops."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from fixtures.commands import legato_env, run_legato
from fixtures.servers import start_server
from fixtures.waiting import wait_until
from fixtures.workers import start_worker
from legato.attempts import TAKEN_BACK_HEADER
from legato.orchestrator.client import ClientOrchestrator
from legato.store import Store

pytestmark = pytest.mark.slow

FLOWS = textwrap.dedent(
    """
    import os

    from legato import flow, get_run_logger, task


    @flow
    def leaky() -> str:
        # What a careless (or hostile) flow does with its environment: print it.
        for name, value in sorted(os.environ.items()):
            print(f"ENV {name}={value}", flush=True)
        get_run_logger().info("key in env: %s", os.environ.get("LEGATO_API_KEY"))
        return "printed"


    @flow
    def quiet() -> str:
        return "ok"


    @task(cache_key_fn=lambda context, parameters: f"sq-{parameters['x']}", tags=["db"])
    def square(x: int) -> int:
        return x * x


    @flow
    def inner(x: int) -> int:
        get_run_logger().info("inner %s", x)
        return square(x)


    @flow
    def middle(x: int) -> int:
        return inner(x) + inner(x + 1)


    @flow
    def nested() -> int:
        get_run_logger().info("outer starting")
        return middle(1) + sum(square.map([1, 2, 3]).result())
    """
)


def make_keys(home: Path) -> tuple[str, str]:
    store = Store(f"sqlite:///{home / 'legato.db'}")
    try:
        _, operator = store.create_api_key("operator")
        _, reader = store.create_api_key("reader", read_only=True)
    finally:
        store.close()
    return operator, reader


def cli(env: dict[str, str], folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_legato(*args, env=env, cwd=folder)


def test_a_flow_run_sees_no_worker_key_and_the_worker_key_is_listed_and_revocable(
    tmp_path: Path,
) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    operator, reader = make_keys(home)
    server = start_server(
        home, tmp_path / "server.log", worker=True, env={"LEGATO_WORKER_POLL_INTERVAL": "0.1"}
    )
    as_operator = legato_env(tmp_path / "client", server.url, LEGATO_API_KEY=operator)
    server_env = legato_env(home)
    try:
        assert (
            cli(as_operator, tmp_path, "deploy", "flows.py:leaky", "--name", "leaky").returncode
            == 0
        )
        done = cli(as_operator, tmp_path, "deployment", "run", "leaky", "--watch")
        assert done.returncode == 0, done.stdout + done.stderr + server.log()
        assert "Completed" in done.stdout

        # A read-only key reads everything the flow printed: no key of any kind is there.
        readonly = ClientOrchestrator(server.url, api_key=reader)
        try:
            [run] = readonly.read_flow_runs(flow_name="leaky")
            messages = [line.message for line in readonly.read_logs(run.id)]
        finally:
            readonly.close()
        assert any(m.startswith("ENV ") for m in messages), messages
        assert "key in env: " in messages, messages  # empty: no key
        printed = "\n".join(messages)
        assert "lgk_" not in printed and "lgr_" not in printed
        assert "ENV LEGATO_API_KEY=\n" in printed + "\n"  # set, and empty
        assert "LEGATO_RUN_TOKEN" not in printed

        # The worker's key is in the store while the server runs, marked internal.
        listed = json.loads(cli(server_env, tmp_path, "api-key", "ls", "--json").stdout)
        internal = [key for key in listed if key["internal"]]
        assert len(internal) == 1, listed
        assert internal[0]["name"].startswith("server-worker-")
        assert not internal[0]["read_only"]
        shown = cli(server_env, tmp_path, "api-key", "ls").stdout
        assert "internal: a server's worker" in shown

        # Revoked, the worker is refused: a new run is not claimed any more.
        deleted = cli(server_env, tmp_path, "api-key", "delete", internal[0]["name"])
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        wait_until(lambda: '" 401 ' in server.log(), "the revoked worker key still got in")
        after = cli(as_operator, tmp_path, "deployment", "run", "leaky", "--json")
        assert after.returncode == 0, after.stderr
        run_id = json.loads(after.stdout)["id"]
        time.sleep(2)  # the worker polls every 0.1 s: it would have claimed the run by now
        operator_client = ClientOrchestrator(server.url, api_key=operator)
        try:
            assert operator_client.read_flow_run(run_id).state.name == "Scheduled"
        finally:
            operator_client.close()
    finally:
        assert server.stop(timeout=120) == 0, server.log()
    remaining = json.loads(cli(server_env, tmp_path, "api-key", "ls", "--json").stdout)
    assert sorted(key["name"] for key in remaining) == ["operator", "reader"]


def test_a_run_credential_opens_its_own_run_only_and_ends_with_it(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    operator, _ = make_keys(home)
    server = start_server(home, tmp_path / "server.log")
    as_operator = legato_env(tmp_path / "client", server.url, LEGATO_API_KEY=operator)
    admin = ClientOrchestrator(server.url, api_key=operator)
    try:
        deployed = cli(
            as_operator, tmp_path, "deploy", "flows.py:quiet", "--name", "q", "--pool", "p"
        )
        assert deployed.returncode == 0, deployed.stderr
        first = json.loads(cli(as_operator, tmp_path, "deployment", "run", "q", "--json").stdout)
        [claimed] = admin.claim_flow_runs("p", "w", 1)
        assert claimed.id == first["id"]
        other = json.loads(cli(as_operator, tmp_path, "deployment", "run", "q", "--json").stdout)
        run_id, other_id = claimed.id, other["id"]
        token = claimed.token
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as run:
            # What the run needs.
            assert run.get(f"/api/flow_runs/{run_id}").status_code == 200
            assert run.get(f"/api/orchestrator/flow_runs/{run_id}/row").status_code == 200
            assert (
                run.get(f"/api/orchestrator/flow_runs/{run_id}/task_runs_by_key").status_code == 200
            )
            params = {"cache_key": "k", "now": time.time()}
            assert run.get("/api/orchestrator/cached_result", params=params).status_code == 200
            running = {"state": {"type": "RUNNING", "name": "Running", "timestamp": time.time()}}
            started = run.post(f"/api/orchestrator/flow_runs/{run_id}/state", json=running)
            assert started.status_code == 200 and started.json()["allowed"], started.text
            line = {"timestamp": time.time(), "level": "INFO", "logger": "t", "message": "mine"}
            assert (
                run.post("/api/bulk", json={"logs": [{**line, "flow_run_id": run_id}]}).status_code
                == 200
            )
            # Nothing else: other runs, listings, deployments, pools, keys.
            refused = [
                run.get("/api/flow_runs"),
                run.get(f"/api/flow_runs/{other_id}"),
                run.get(f"/api/orchestrator/flow_runs/{other_id}/row"),
                run.post(f"/api/orchestrator/flow_runs/{other_id}/state", json=running),
                run.post("/api/bulk", json={"logs": [{**line, "flow_run_id": other_id}]}),
                run.post("/api/work_pools/p/pause"),
                run.get("/api/deployments"),
                run.delete(f"/api/deployments/{first['deployment_id']}"),
                run.post(
                    "/api/orchestrator/flow_runs",
                    json={
                        "row": {
                            "id": "01a23117-0000-7000-8000-000000000001",
                            "flow_name": "quiet",
                            "name": "top-level",
                            "parameters": {},
                            "tags": [],
                            "created": time.time(),
                        },
                        "state": {"type": "PENDING", "name": "Pending", "timestamp": time.time()},
                    },
                ),
            ]
            assert [r.status_code for r in refused] == [403] * len(refused), [
                r.text for r in refused
            ]
            assert admin.read_flow_run(other_id).state.name == "Scheduled"
            # Nor rewrite another run's task run under its own run's id.
            theirs = {
                "id": "01a23117-0000-7000-8000-0000000000aa",
                "flow_run_id": other_id,
                "name": "theirs",
                "task_key": "theirs",
                "dynamic_key": 0,
                "tags": [],
                "state_type": "COMPLETED",
                "state_name": "Completed",
                "state_timestamp": time.time(),
                "run_count": 1,
                "created": time.time(),
            }
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {operator}"}
            ) as operator_http:
                assert (
                    operator_http.post("/api/bulk", json={"task_runs": [theirs]}).status_code == 200
                )
            hijack = {
                **theirs,
                "flow_run_id": run_id,
                "state_type": "FAILED",
                "state_name": "Failed",
            }
            assert run.post("/api/bulk", json={"updates": [hijack]}).status_code == 403
            assert admin.read_task_run(theirs["id"]).state.name == "Completed"
            assert [log.message for log in admin.read_logs(other_id)] == []
            # The run ends: its credential stops working, and says why.
            done = {"state": {"type": "COMPLETED", "name": "Completed", "timestamp": time.time()}}
            ended = run.post(f"/api/orchestrator/flow_runs/{run_id}/state", json=done)
            assert ended.status_code == 200 and ended.json()["allowed"], ended.text
            gone = run.get(f"/api/flow_runs/{run_id}")
            assert gone.status_code == 401
            assert gone.headers.get(TAKEN_BACK_HEADER) == "true"
            late = run.post("/api/bulk", json={"logs": [{**line, "flow_run_id": run_id}]})
            assert late.status_code == 401
        assert admin.read_flow_run(run_id).state.name == "Completed"
        assert [log.message for log in admin.read_logs(run_id)] == ["mine"]
    finally:
        admin.close()
        assert server.stop(timeout=120) == 0, server.log()


def test_a_server_killed_outright_leaves_a_key_that_the_next_server_removes(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    make_keys(home)
    server_env = legato_env(home)

    def internal_names() -> list[str]:
        listed = json.loads(cli(server_env, tmp_path, "api-key", "ls", "--json").stdout)
        return [key["name"] for key in listed if key["internal"]]

    first = start_server(home, tmp_path / "first.log", worker=True)
    [left] = internal_names()
    first.process.kill()
    first.process.wait(timeout=60)
    assert internal_names() == [left]  # nobody deleted it: it is still listed, revocable
    second = start_server(home, tmp_path / "second.log", worker=True)
    try:
        [now] = internal_names()
        assert now != left
        assert now.endswith(f"-{second.process.pid}")
    finally:
        assert second.stop(timeout=120) == 0, second.log()
    assert internal_names() == []


def test_a_run_with_subflows_tasks_and_a_cache_works_on_its_credential(tmp_path: Path) -> None:
    """Everything a flow does (nested subflows, mapped tasks, a cache lookup, a tag's
    concurrency slots, logs) goes through on its run's credential alone, on a server that
    requires keys."""
    (tmp_path / "flows.py").write_text(FLOWS)
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    operator, _ = make_keys(home)
    server = start_server(
        home, tmp_path / "server.log", worker=True, env={"LEGATO_WORKER_POLL_INTERVAL": "0.1"}
    )
    as_operator = legato_env(tmp_path / "client", server.url, LEGATO_API_KEY=operator)
    admin = ClientOrchestrator(server.url, api_key=operator)
    try:
        assert (
            cli(as_operator, tmp_path, "deploy", "flows.py:nested", "--name", "n").returncode == 0
        )
        limited = cli(as_operator, tmp_path, "concurrency-limit", "create", "db", "1")
        assert limited.returncode == 0, limited.stdout + limited.stderr
        for _ in range(2):  # the second run finds the first one's cached squares
            done = cli(as_operator, tmp_path, "deployment", "run", "n", "--watch")
            assert done.returncode == 0, done.stdout + done.stderr + server.log()
            assert "Completed" in done.stdout
        runs = admin.read_flow_runs(limit=50)
        assert sorted(run.flow_name for run in runs) == sorted(
            ["nested", "middle", "inner", "inner"] * 2
        )
        assert all(run.state.name == "Completed" for run in runs)
        latest = next(run for run in runs if run.flow_name == "nested")  # newest first
        assert "Cached" in {task.state.name for task in admin.read_task_runs(latest.id)}
        inner_runs = [run for run in runs if run.flow_name == "inner"]
        assert all(
            any(line.message.startswith("inner ") for line in admin.read_logs(run.id))
            for run in inner_runs
        )
    finally:
        admin.close()
        assert server.stop(timeout=120) == 0, server.log()
    assert '" 403 ' not in server.log() and '" 401 ' not in server.log()


def test_a_worker_whose_key_is_in_config_toml_does_not_hand_it_down(tmp_path: Path) -> None:
    """``legato worker start`` on a machine whose config.toml holds the key: its flow runs
    read their settings from the same home, and still find no key there."""
    (tmp_path / "flows.py").write_text(
        FLOWS
        + textwrap.dedent(
            """

            @flow
            def settings_leak() -> str:
                from legato.settings import get_settings

                print(f"SETTINGS KEY {get_settings().api_key!r}", flush=True)
                return "ok"
            """
        )
    )
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    operator, reader = make_keys(home)
    server = start_server(home, tmp_path / "server.log")
    worker_env = legato_env(tmp_path / "worker-home", server.url, LEGATO_WORKER_POLL_INTERVAL="0.1")
    configured = cli(worker_env, tmp_path, "config", "set", "api_key", operator)
    assert configured.returncode == 0, configured.stdout + configured.stderr
    worker = start_worker(tmp_path, worker_env, "--launcher", "fork")
    admin = ClientOrchestrator(server.url, api_key=operator)
    try:
        deployed = cli(
            worker_env, tmp_path, "deploy", "flows.py:settings_leak", "--name", "s", "--pool", "p"
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        done = cli(worker_env, tmp_path, "deployment", "run", "s", "--watch")
        assert done.returncode == 0, done.stdout + done.stderr + server.log()
        [run] = admin.read_flow_runs(limit=5)
        messages = [line.message for line in admin.read_logs(run.id)]
        assert "SETTINGS KEY ''" in messages, messages
        assert not any(operator in m or reader in m for m in messages)
    finally:
        admin.close()
        worker.terminate()
        worker.wait(timeout=120)
        assert server.stop(timeout=120) == 0, server.log()
