"""``legato notify``: a flow run that fails sends one message to a Slack channel (a real
receiver on 127.0.0.1 that answers 500 twice first), naming the flow, the run, the
state and its message; a run that completes sends nothing."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from fixtures.commands import legato_env, run_legato
from fixtures.receivers import http_receiver
from fixtures.servers import running_server
from fixtures.waiting import wait_until

FLOWS = """
import sys
from legato import flow


@flow(name="nightly-load")
def nightly_load(fail: bool):
    if fail:
        raise RuntimeError("the warehouse said no")
    return "ok"


nightly_load(fail=sys.argv[1] == "fail")
"""


def test_a_failed_run_sends_one_message_and_a_completed_one_none(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text(FLOWS)
    with contextlib.contextmanager(http_receiver)([500, 500]) as receiver:
        with running_server(tmp_path / "home", tmp_path / "server.log") as server:
            env = legato_env(tmp_path / "client", server.url)
            run_legato(
                "notification", "create", "ops", "--slack", receiver.url, env=env, check=True
            )
            made = run_legato(
                "notify", "ops", "--on", "Failed,Crashed", "--flow", "nightly-load", env=env
            )
            assert made.returncode == 0, made.stderr
            assert "send a message to ops" in made.stdout
            unknown = run_legato("notify", "nobody", env=env)
            assert unknown.returncode == 1
            assert "nobody" in unknown.stderr
            for outcome in ("ok", "fail"):
                subprocess.run(
                    [sys.executable, "flows.py", outcome],
                    cwd=tmp_path, env=env, capture_output=True, timeout=120,
                )  # fmt: skip
            wait_until(lambda: receiver.received, "the message was delivered", timeout=60)
            name = "notify ops on Failed,Crashed (flow nightly-load)"
            firings = wait_until(
                lambda: [
                    f
                    for f in json.loads(
                        run_legato("automation", "firings", name, "--json", env=env).stdout
                    )
                    if f["actions"][0]["status"] == "done"
                ],
                "the action is recorded as done",
            )
        assert len(firings) == 1
        assert receiver.answered == [500, 500, 200]
        [message] = receiver.received
        text = json.dumps(message.body)
        assert "nightly-load" in text
        assert "Failed" in text
        assert "the warehouse said no" in text
