"""``flow.serve(...)`` at the top level of a file, with no ``__main__`` guard, as
Prefect's documentation writes it: importing the file (to check the flow before
deploying it, to run one of its runs) never serves again, and one signal stops it."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.commands import legato_env, run_deployment, run_legato
from fixtures.waiting import wait_until
from legato.workers.entrypoints import load_flow

PREFECT_STYLE = textwrap.dedent(
    """
    from legato import flow


    @flow(log_prints=True)
    def hello_world(name: str = "world", goodbye: bool = False):
        print(f"Hello {name} from legato!")

        if goodbye:
            print(f"Goodbye {name}!")


    hello_world.serve(
        name="my-first-deployment",
        cron="* * * * *",
        tags=["onboarding"],
        parameters={"goodbye": True},
    )
    """
)

SLOW_STYLE = textwrap.dedent(
    """
    import pathlib
    import time

    from legato import flow


    @flow
    def slow():
        pathlib.Path("started").touch()
        while not pathlib.Path("go").exists():
            time.sleep(0.05)
        return "done"


    slow.serve(name="slow", cron="0 0 1 1 *")
    """
)


def _serve(folder: Path, script: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    (folder / "flows.py").write_text(script)
    with (folder / "serve.log").open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "flows.py"],
            cwd=folder,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def _serving(process: subprocess.Popen[bytes], folder: Path) -> bool:
    text = (folder / "serve.log").read_text()
    assert process.poll() is None, text
    return "Worker" in text and "started" in text


def _run(flow_run_id: str, env: dict[str, str]) -> dict[str, object]:
    shown = run_legato("runs", "show", flow_run_id, "--json", env=env, check=True)
    return dict(json.loads(shown.stdout))


def _stop(process: subprocess.Popen[bytes], signum: signal.Signals) -> int:
    if process.poll() is None:
        process.send_signal(signum)
    return process.wait(timeout=120)


def test_serve_at_module_level_serves_once_and_stops_on_one_sigint(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = legato_env(home)
    process = _serve(tmp_path, PREFECT_STYLE, env)
    try:
        wait_until(lambda: _serving(process, tmp_path), "the file serves its flow")
        flow_run_id = run_deployment("hello-world/my-first-deployment", env=env, cwd=tmp_path)
        record = wait_until(
            lambda: (
                (run := _run(flow_run_id, env))["state"]["type"] == "COMPLETED"  # type: ignore[index]
                and run
            ),
            "the triggered run completes in the run's own process",
        )
        assert record["work_pool"] == "serve-my-first-deployment"
        logs = run_legato("runs", "logs", flow_run_id, env=env, check=True).stdout
        assert "Hello world from legato!" in logs and "Goodbye world!" in logs
        deployments = json.loads(run_legato("deployment", "ls", "--json", env=env).stdout)
        assert [d["name"] for d in deployments] == ["my-first-deployment"]
    finally:
        code = _stop(process, signal.SIGINT)
    text = (tmp_path / "serve.log").read_text()
    assert code == 0, text
    # One server: the import that checked the flow and the run's own import skipped it.
    assert text.count("Serving deployment") == 1, text
    assert text.count("started: pool") == 1, text
    assert text.count("SIGINT, stopping") == 1, text


def test_one_sigterm_stops_serving_after_its_running_run_ends(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = legato_env(home)
    process = _serve(tmp_path, SLOW_STYLE, env)
    try:
        wait_until(lambda: _serving(process, tmp_path), "the file serves its flow")
        flow_run_id = run_deployment("slow/slow", env=env, cwd=tmp_path)
        wait_until(lambda: (tmp_path / "started").exists(), "the run starts")
        process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: "SIGTERM, stopping" in (tmp_path / "serve.log").read_text(),
            "the serving process hears SIGTERM",
        )
        (tmp_path / "go").touch()
        code = process.wait(timeout=120)
    finally:
        _stop(process, signal.SIGKILL)
    text = (tmp_path / "serve.log").read_text()
    assert code == 0, text
    assert _run(flow_run_id, env)["state"]["type"] == "COMPLETED"  # type: ignore[index]
    assert text.count("Serving deployment") == 1, text


def test_loading_a_file_that_serves_at_top_level_skips_the_call(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "flows.py").write_text(PREFECT_STYLE)
    with caplog.at_level(logging.INFO, logger="legato.deploy"):
        loaded = load_flow(f"{tmp_path / 'flows.py'}:hello_world")
    assert loaded.name == "hello-world"
    skipped = [r.getMessage() for r in caplog.records if r.name == "legato.deploy"]
    assert len(skipped) == 1
    assert "skipped hello-world.serve('my-first-deployment')" in skipped[0]


def test_legato_deploy_of_a_file_that_serves_at_top_level_only_deploys(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(PREFECT_STYLE)
    env = legato_env(tmp_path / "home")
    done = run_legato(
        "deploy", "flows.py:hello_world", "--name", "nightly", "--pool", "p", "--json",
        env=env, cwd=tmp_path, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(done.stdout)["name"] == "nightly"
    deployments = json.loads(run_legato("deployment", "ls", "--json", env=env).stdout)
    assert [d["name"] for d in deployments] == ["nightly"]
